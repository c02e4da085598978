"""One device, four simulated devices (shard_map and pmap), and two processes of two devices:
the same run gives the same parameters and metrics, up to float32 summation order.

A smooth step (no sign of a gradient, no tie) is compared whole. A discontinuous one, PGD's
and TRADES' sign steps, must keep what does not depend on summation order: the same random
keys and the same crafted examples up to the few components whose near-zero gradient flips
sign.
"""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO, load_config_file, simulated_devices
from gan_lab.runs import experiments, loop

CONFIG = os.path.join(REPO, "tests", "configs", "tiny_bn_dropout.py")


def _train_cmd(workdir, *flags):
  return [sys.executable, "experiments/train.py", f"--config={CONFIG}", f"--workdir={workdir}",
          *flags]


def _env(devices):
  return simulated_devices(devices)


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


# Device splits change only the order of float32 sums (over at most 32 * 28 * 28 terms:
# relative differences of ~1e-6, growing slowly over 8 steps). A split that changed the
# numbers (other dropout masks, per-device BatchNorm statistics, gradients not averaged)
# moves parameters by about the learning rate per step, 1e-3: 3e-5 lies between the two.
STATE_ATOL, RTOL = 3e-5, 1e-3


def _assert_same_run(reference, workdir):
  """Every array of the state (parameters, BatchNorm statistics, optimizer state) and every
  logged metric match the reference run, up to float32 summation order."""
  ref_dir, ref_state = reference
  config, state, step = experiments.restore_run(workdir)
  assert step == 8
  lr = config.get("learning_rate") or max(config.gan.g_learning_rate, config.gan.d_learning_rate)
  # Leaves, not whole states: the static model of a restored state is built from config.json.
  # Adam divides each gradient by its own scale, so where a gradient is rounding noise (a
  # layer BatchNorm follows, say) its step is +-lr in either run: a few elements may differ
  # by up to 2 lr per step, never more.
  off, total = 0, 0
  for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(ref_state), strict=True):
    got, want = np.asarray(got), np.asarray(want)
    if not np.issubdtype(want.dtype, np.floating):
      np.testing.assert_array_equal(got, want)
      continue
    np.testing.assert_allclose(got, want, atol=2 * lr * step, rtol=RTOL)
    off += np.sum(~np.isclose(got, want, rtol=RTOL, atol=STATE_ATOL))
    total += got.size
  assert off <= 0.01 * total, f"{off} of {total} elements differ"
  for ref, got in zip(_metrics(ref_dir), _metrics(workdir), strict=True):
    assert ref.keys() == got.keys()
    for k in ref:
      assert got[k] == pytest.approx(ref[k], rel=RTOL, abs=1e-5), k


@pytest.fixture(scope="module")
def four_devices(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("four"))
  _run(_train_cmd(workdir), devices=4)
  return workdir


def test_four_devices_equal_one_device(one_device, four_devices):
  _assert_same_run(one_device, four_devices)


def test_pmap_on_four_devices_equals_one_device(one_device, tmp_path):
  _run(_train_cmd(tmp_path, "--config.parallel=pmap"), devices=4)
  _assert_same_run(one_device, str(tmp_path))


def test_one_device_count_repeats_a_run_bit_identically(four_devices, tmp_path):
  """What the README promises beyond float32 summation order: on the same device count, the
  same command gives the same bits, every parameter and every logged number."""
  _run(_train_cmd(tmp_path), devices=4)
  _, first, _ = experiments.restore_run(four_devices)
  _, again, _ = experiments.restore_run(str(tmp_path))
  for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(again), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert _metrics(str(tmp_path)) == _metrics(four_devices)


# Every stabiliser at once; spectral norm drops D's BatchNorm, so each example's penalty is
# its own and the run must not depend on the split either.
_STABILISED = {"loss": "least_squares", "penalty": "r1", "penalty_weight": 1.0,
               "spectral_norm": True, "ema_decay": 0.9, "augment": "color,translation,cutout",
               "pack": 2}


@pytest.mark.parametrize("stabilisers", [{}, _STABILISED], ids=["plain", "stabilised"])
def test_a_gan_on_four_devices_equals_one_device(tmp_path, stabilisers):
  config = os.path.join(REPO, "tests", "configs", "tiny_dcgan.py")
  one = load_config_file(config)
  one.gan.update(stabilisers)
  reference = (str(tmp_path / "one"), loop.train_and_evaluate(one, str(tmp_path / "one")))
  _run([sys.executable, "experiments/train.py", f"--config={config}",
        f"--workdir={tmp_path / 'four'}",
        *[f"--config.gan.{k}={v}" for k, v in stabilisers.items()]], devices=4)
  _assert_same_run(reference, str(tmp_path / "four"))


_ATTACK_ON_FOUR_DEVICES = """
import sys
import jax, numpy as np
from conftest import load_config_file
from gan_lab import data, inference, parallel
from gan_lab.training import adversarial

config = load_config_file(sys.argv[1])
config.adv.method = sys.argv[3]
state = adversarial.init_state(config, jax.random.key(0), 1)
train = data.load("mnist5k", "train")
x, y, rng = inference.to_float(train["image"][:32]), train["label"][:32], jax.random.key(5)

def craft(state, x, y, rng, axis_name):
  keys = jax.random.key_data(parallel.example_keys(rng, len(x), axis_name))
  return adversarial.perturb(config, state, x, y, rng, axis_name), keys

mesh = parallel.make_mesh()
assert mesh.size == 4
many = jax.jit(parallel.data_parallel(lambda *a: craft(*a, parallel.AXIS), mesh,
                                      (None, 0, 0, None), (0, 0)))(state, x, y, rng)
one = jax.jit(lambda *a: craft(*a, None))(state, x, y, rng)
np.savez(sys.argv[2], x=np.asarray(x), many=many[0], many_keys=many[1], one=one[0],
         one_keys=one[1])
"""


@pytest.mark.parametrize("method", ["pgd", "trades"])
def test_adversarial_examples_on_four_devices_equal_one_device(tmp_path, method):
  """PGD's and TRADES' random starts: the same per-example keys, and the same examples up to
  the components where a near-zero gradient's sign flips with the summation order."""
  config = os.path.join(REPO, "tests", "configs", "tiny_adv_pgd.py")
  out = tmp_path / "attack.npz"
  result = subprocess.run([sys.executable, "-c", _ATTACK_ON_FOUR_DEVICES, config, str(out),
                           method],
                          cwd=os.path.join(REPO, "tests"), env=_env(4), capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  got = np.load(out)
  np.testing.assert_array_equal(got["many_keys"], got["one_keys"])
  eps = load_config_file(config).adv.eps
  moved = np.abs(got["one"] - got["x"]) > 1e-6
  assert moved.mean() > 0.5  # The attack did change the images.
  differ = np.abs(got["many"] - got["one"]) > 1e-6
  assert differ.mean() < 1e-3, f"{differ.sum()} of {differ.size} components differ"
  assert np.abs(got["many"] - got["x"]).max() <= eps + 1e-6  # Both stay in the eps-ball.


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
