"""One device, four simulated devices (shard_map and pmap), and two processes of two devices:
the same run gives the same parameters and metrics."""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO, load_config_file
from gan_lab import checkpoint
from gan_lab.training import loop

CONFIG = os.path.join(REPO, "tests", "configs", "tiny_bn_dropout.py")


def _train_cmd(workdir, *flags):
  return [sys.executable, "experiments/train.py", f"--config={CONFIG}", f"--workdir={workdir}",
          *flags]


def _env(devices):
  return {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}


def _run(cmd, devices, timeout=300):
  out = subprocess.run(cmd, cwd=REPO, env=_env(devices), capture_output=True, text=True,
                       timeout=timeout)
  assert out.returncode == 0, out.stderr[-3000:]
  return out


def _free_port():
  """A port P with P + 1 also free: JAX's coordinator takes P, the process check-in P + 1."""
  while True:
    with socket.socket() as s, socket.socket() as t:
      s.bind(("127.0.0.1", 0))
      port = s.getsockname()[1]
      try:
        t.bind(("127.0.0.1", port + 1))
      except OSError:
        continue
      return port


def _metrics(workdir):
  return [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("one"))
  assert jax.device_count() == 1
  return workdir, loop.train_and_evaluate(load_config_file(CONFIG), workdir)


def _assert_same_run(reference, workdir):
  """Every array of the state (parameters, BatchNorm statistics, optimizer state) and every
  logged metric match the reference run."""
  ref_dir, ref_state = reference
  _, state, step = checkpoint.restore_from_workdir(workdir)
  assert step == 8
  for a, b in zip(jax.tree.leaves(ref_state), jax.tree.leaves(state), strict=True):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-5, atol=2e-6)
  for ref, got in zip(_metrics(ref_dir), _metrics(workdir), strict=True):
    assert ref.keys() == got.keys()
    for k in ref:
      assert got[k] == pytest.approx(ref[k], rel=1e-4, abs=1e-5), k


@pytest.mark.parametrize("backend", ["shard_map", "pmap"])
def test_four_devices_equal_one_device(one_device, tmp_path, backend):
  _run(_train_cmd(tmp_path, f"--config.parallel={backend}"), devices=4)
  _assert_same_run(one_device, str(tmp_path))


@pytest.mark.parametrize("name", ["tiny_dcgan", "tiny_adv_pgd"])
def test_other_experiments_on_four_devices_equal_one_device(tmp_path, name):
  config = os.path.join(REPO, "tests", "configs", f"{name}.py")
  reference = (str(tmp_path / "one"), loop.train_and_evaluate(load_config_file(config),
                                                              str(tmp_path / "one")))
  _run([sys.executable, "experiments/train.py", f"--config={config}",
        f"--workdir={tmp_path / 'four'}"], devices=4)
  _assert_same_run(reference, str(tmp_path / "four"))


def test_two_processes_equal_one_device(one_device, tmp_path):
  port = _free_port()
  procs = [subprocess.Popen(
      _train_cmd(tmp_path, f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
                 f"--process_id={i}"), cwd=REPO, env=_env(2), stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for i in range(2)]
  try:
    outs = [p.communicate(timeout=300) for p in procs]
  finally:
    for p in procs:
      p.kill()
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  assert "JAX process 1 of 2, 4 devices (2 local)." in outs[1][1]
  assert "Outputs in" in outs[0][0] and "Outputs in" not in outs[1][0]  # Process 0 reports.
  _assert_same_run(one_device, str(tmp_path))


def test_indivisible_batch_fails_before_compiling(tmp_path):
  out = subprocess.run(_train_cmd(tmp_path, "--config.batch_size=30"), cwd=REPO, env=_env(4),
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 2 and "Traceback" not in out.stderr
  assert ("error: config.batch_size 30 is not divisible by the 4 devices; use a multiple of 4"
          in out.stderr)
  assert not os.path.exists(tmp_path / "config.json")


def test_a_missing_process_is_one_sentence_before_compiling(tmp_path):
  out = subprocess.run(_train_cmd(tmp_path, f"--coordinator_address=127.0.0.1:{_free_port()}",
                                  "--num_processes=2", "--process_id=0",
                                  "--initialization_timeout=3"),
                       cwd=REPO, env=_env(1), capture_output=True, text=True, timeout=120)
  assert out.returncode == 2 and "Traceback" not in out.stderr
  assert ("error: Processes do not match: only 1 of 2 processes reached 127.0.0.1:"
          in out.stderr)
  assert not os.path.exists(tmp_path / "config.json")


def test_bad_process_settings_are_one_sentence(tmp_path):
  out = subprocess.run(_train_cmd(tmp_path, "--coordinator_address=127.0.0.1:1",
                                  "--num_processes=2", "--process_id=2"),
                       cwd=REPO, env=_env(1), capture_output=True, text=True, timeout=120)
  assert out.returncode == 2 and "Traceback" not in out.stderr
  assert "error: process_id 2 must be in [0, 2) for num_processes=2." in out.stderr
