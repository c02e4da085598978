"""A run in a workdir: its outputs, resuming, and what bad input and failures leave behind."""

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO, load_config_file, run_script, tiny_config
from gan_lab import data, inference
from gan_lab.core.config import adversarial_config
from gan_lab.core.errors import UserError
from gan_lab.models import onednn
from gan_lab.runs import checkpoint, experiments, loop, restore, sampling, workdirs
from gan_lab.studies import robustness, tables, tour


def assert_same_params(a, b):
  chex.assert_trees_all_equal(a, b)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("run"))
  config = tiny_config(num_steps=8, eval_every=8, checkpoint_every=4)
  state = loop.train_and_evaluate(config, workdir)
  return config, workdir, state


def test_run_writes_its_outputs(finished_run):
  config, workdir, state = finished_run
  assert int(state.step) == 8
  names = set(os.listdir(workdir))
  assert {"config.json", "metrics.jsonl", "tensorboard", "checkpoints", "curves.png",
          "filters.png", "feature_maps.png"} <= names
  assert json.load(open(os.path.join(workdir, "config.json")))["model"] == "ConvNet"
  records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  assert [r["step"] for r in records] == [4, 8]
  assert {"train_loss", "train_accuracy", "train_grad_norm"} <= set(records[0])
  assert "test_accuracy" not in records[0]  # eval_every=8: only at the end.
  test = data.load("mnist5k", "test")
  logits = inference.logits_fn(state)(inference.to_float(test["image"]))
  assert records[1]["test_accuracy"] == pytest.approx(
      float(np.mean(np.argmax(logits, -1) == test["label"])), abs=1e-6)
  # The convolution that ran ("auto" resolved) is part of the run's record.
  assert json.load(open(os.path.join(workdir, "config.json")))["conv"] == (
      "onednn" if onednn.available() else "xla")
  assert sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints"))) == [4, 8]


def test_tensorboard_reads_the_event_files_without_tensorflow(finished_run):
  """The default install has no TensorFlow; TensorBoard reads tensorboardX's files as they are."""
  from tensorboard.backend.event_processing import event_accumulator
  _, workdir, _ = finished_run
  acc = event_accumulator.EventAccumulator(os.path.join(workdir, "tensorboard"))
  acc.Reload()
  records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  events = acc.Scalars("train_loss")
  assert [e.step for e in events] == [4, 8]
  assert events[1].value == pytest.approx(records[1]["train_loss"], rel=1e-6)


def test_restore_from_workdir_alone(finished_run):
  config, workdir, state = finished_run
  restored_config, restored, step = experiments.restore_run(workdir)
  recorded = {**json.loads(config.to_json_best_effort()),  # "auto" as it resolved.
              "conv": "onednn" if onednn.available() else "xla"}
  assert step == 8 and restored_config.to_dict() == recorded
  assert_same_params(restored.params, state.params)
  x = jnp.ones((2, 28, 28, 1)) * 0.5
  np.testing.assert_array_equal(inference.logits_fn(restored)(x), inference.logits_fn(state)(x))
  _, older, _ = restore.restore_classifier(workdir, step=4)
  assert int(older.step) == 4
  with pytest.raises(UserError, match="no checkpoint at step 5"):
    restore.restore_classifier(workdir, step=5)


def test_a_restored_batchnorm_state_runs_anywhere(tmp_path):
  """The state carries no device axis: trained under shard_map, restored, it runs in
  training mode outside it (before, BatchNorm raised "unbound axis name: data")."""
  config = tiny_config(num_steps=4)
  config.model_kwargs.layers = ({"filters": 4, "batch_norm": True, "dropout": 0.1},)
  loop.train_and_evaluate(config, str(tmp_path))
  _, state, _ = restore.restore_classifier(str(tmp_path))
  x = jnp.full((4, 28, 28, 1), 0.5)
  logits, updates = state.apply_fn(state.variables(), x, train=True, mutable=["batch_stats"],
                                   rngs={"dropout": jax.random.key(0)})
  assert logits.shape == (4, 10) and jnp.all(jnp.isfinite(logits))
  assert not np.allclose(updates["batch_stats"]["BatchNorm_0"]["mean"],
                         state.batch_stats["BatchNorm_0"]["mean"])
  assert state.model.axis_name is None


def test_rerun_resumes_and_extends_exactly(finished_run, tmp_path):
  config, original, state = finished_run
  workdir = str(tmp_path / "copy")
  shutil.copytree(original, workdir)
  again = loop.train_and_evaluate(config, workdir)  # Finished: nothing more to train.
  assert_same_params(again.params, state.params)
  longer = loop.train_and_evaluate(tiny_config(num_steps=12, eval_every=8, checkpoint_every=4),
                                   workdir)
  scratch = loop.train_and_evaluate(
      tiny_config(num_steps=12, eval_every=8, checkpoint_every=4), str(tmp_path / "scratch"))
  assert int(longer.step) == 12
  assert_same_params(longer.params, scratch.params)
  steps = [json.loads(l)["step"] for l in open(os.path.join(workdir, "metrics.jsonl"))]
  assert steps == [4, 8, 12]


def test_host_batches_give_the_same_run_as_device_batches(tmp_path):
  runs = {mode: loop.train_and_evaluate(tiny_config(on_device=mode), str(tmp_path / mode))
          for mode in ("true", "false", "auto")}
  assert_same_params(runs["true"].params, runs["false"].params)
  assert_same_params(runs["true"].params, runs["auto"].params)


def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path):
  overrides = ["--config.num_steps=100", "--config.log_every=10",
               "--config.checkpoint_every=20", "--config.eval_every=0",
               "--config.batch_size=16", "--config.keep_checkpoints=2"]
  args = ["--config=experiments/configs/seed_cnn_mnist5k.py", *overrides]
  workdir = tmp_path / "killed"
  proc = subprocess.Popen([sys.executable, "experiments/train.py", *args, f"--workdir={workdir}"],
                          cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  ckpts = workdir / "checkpoints"
  deadline = time.time() + 240
  while not (ckpts.is_dir() and any(p.name.isdigit() for p in ckpts.iterdir())):
    assert proc.poll() is None and time.time() < deadline, "no checkpoint before the run ended"
    time.sleep(0.05)
  with pytest.raises(UserError, match=rf"is in use by another run \(process {proc.pid} on "):
    with workdirs.lock(str(workdir)):
      pass
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  with workdirs.lock(str(workdir)):  # SIGKILL released it: the OS holds flock locks.
    pass
  steps = sorted(int(p.name) for p in ckpts.iterdir() if p.name.isdigit())
  assert steps and steps[-1] < 100, f"the kill came too late to test anything: {steps}"

  resumed = run_script("train.py", *args, f"--workdir={workdir}")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f"Resuming {workdir} from step {steps[-1]}" in resumed.stderr

  config = load_config_file("seed_cnn_mnist5k")  # The same config the script built.
  config.update(num_steps=100, log_every=10, checkpoint_every=20, eval_every=0, batch_size=16,
                keep_checkpoints=2)
  reference = loop.train_and_evaluate(config, str(tmp_path / "reference"))
  _, restored, step = restore.restore_classifier(str(workdir))
  assert step == 100
  logged = [json.loads(line)["step"] for line in open(workdir / "metrics.jsonl")]
  assert logged == list(range(10, 101, 10))  # One line per step, none lost or repeated.
  assert_same_params(restored.params, reference.params)
  assert_same_params(restored.opt_state, reference.opt_state)

  # SIGTERM (a cluster's preemption) stops it after the chunk it is in, with a checkpoint
  # of that chunk and one line; resumed, it ends as the uninterrupted run did.
  workdir = tmp_path / "terminated"
  proc = subprocess.Popen([sys.executable, "experiments/train.py", *args, f"--workdir={workdir}"],
                          cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  while not (workdir / "metrics.jsonl").exists() or not (workdir / "metrics.jsonl").read_text():
    assert proc.poll() is None and time.time() < deadline + 240, "the run ended first"
    time.sleep(0.02)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=240)
  assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
  assert "Traceback" not in err
  last = err.strip().splitlines()[-1]
  stopped_at = int(re.search(r"^stopped: SIGTERM stopped the run at step (\d+) of 100 with a "
                             r"checkpoint there \(.*\); re-run the same command to resume\.$",
                             last).group(1))
  assert stopped_at < 100 and checkpoint.steps(str(workdir))[-1] == stopped_at
  resumed = run_script("train.py", *args, f"--workdir={workdir}")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  _, restored, _ = restore.restore_classifier(str(workdir))
  assert_same_params(restored.params, reference.params)
  assert_same_params(restored.opt_state, reference.opt_state)


def test_corrupt_latest_checkpoint_falls_back_and_is_kept_aside(tmp_path):
  workdir = str(tmp_path / "run")
  args = ["--config=tests/configs/tiny_bn_dropout.py", "--config.eval_every=0"]
  first = run_script("train.py", *args, f"--workdir={workdir}")
  assert first.returncode == 0, first.stderr[-3000:]
  # The array data of step 8 is gone: Orbax's reads of it fail one by one, asynchronously,
  # and each failure used to print its own traceback (dozens) around the one warning.
  data_dir = os.path.join(workdir, "checkpoints", "8", "state", "ocdbt.process_0", "d")
  for name in os.listdir(data_dir):
    os.remove(os.path.join(data_dir, name))
  resumed = run_script("train.py", *args, "--config.num_steps=12", f"--workdir={workdir}")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "Traceback" not in resumed.stderr and "Event loop" not in resumed.stderr, (
      resumed.stderr[-3000:])
  warnings = [l for l in resumed.stderr.splitlines() if "Checkpoint at step 8 is unreadable" in l]
  assert len(warnings) == 1 and "falling back to step 4" in warnings[0]
  assert "TensorStore" not in warnings[0]  # The first line of the error, not its spec.
  assert os.path.isdir(os.path.join(workdir, "corrupt_checkpoints", "8"))  # Moved, not deleted.
  config = load_config_file(os.path.join(REPO, "tests/configs/tiny_bn_dropout.py"))
  config.update(eval_every=0, num_steps=12)
  scratch = loop.train_and_evaluate(config, str(tmp_path / "scratch"))
  _, state, step = restore.restore_classifier(workdir)
  assert step == 12
  assert_same_params(state.params, scratch.params)


def test_results_without_a_checkpoint_are_refused_or_moved_aside(tmp_path, caplog):
  """With its checkpoints gone, a re-run must not silently write over the old results."""
  workdir = tmp_path / "run"
  config = tiny_config(num_steps=8, eval_every=8)
  loop.train_and_evaluate(config, str(workdir))
  shutil.rmtree(workdir / "checkpoints")
  before = (workdir / "metrics.jsonl").read_text()
  with pytest.raises(UserError, match="holds the results of a run \\(metrics up to step 8\\) "
                                      "but no checkpoint to resume from; pass --restart"):
    loop.train_and_evaluate(config, str(workdir))
  assert (workdir / "metrics.jsonl").read_text() == before
  with caplog.at_level("WARNING"):
    state = loop.train_and_evaluate(config, str(workdir), restart=True)
  aside = workdir / "previous" / "1"
  assert f"earlier results are in {aside}" in caplog.text
  assert (aside / "metrics.jsonl").read_text() == before  # Moved, not deleted.
  assert {"curves.png", "tensorboard", "filters.png"} <= set(os.listdir(aside))
  assert int(state.step) == 8 and checkpoint.steps(str(workdir)) == [8]


def test_a_line_cut_short_is_kept_aside_with_a_warning(tmp_path, caplog):
  workdir = tmp_path / "run"
  loop.train_and_evaluate(tiny_config(num_steps=8, checkpoint_every=4), str(workdir))
  lines = (workdir / "metrics.jsonl").read_text().splitlines()
  (workdir / "metrics.jsonl").write_text(lines[0] + "\n" + lines[1][:20])  # Killed mid-write.
  shutil.rmtree(workdir / "checkpoints" / "8")
  with caplog.at_level("WARNING"):
    loop.train_and_evaluate(tiny_config(num_steps=8, checkpoint_every=4), str(workdir))
  assert "1 line(s) of" in caplog.text and "were cut short" in caplog.text
  assert (workdir / "metrics.jsonl.partial").read_text() == lines[1][:20] + "\n"
  assert [json.loads(l)["step"] for l in (workdir / "metrics.jsonl").read_text().splitlines()
          ] == [4, 8]


@pytest.mark.parametrize("error", [
    ValueError("restore failed"),  # Raised from an EIO OSError below.
    TimeoutError(),  # asyncio's, inside Orbax: no message at all.
])
def test_a_transient_read_error_is_not_corruption(tmp_path, monkeypatch, error):
  """An I/O error of the storage while restoring moves nothing aside and says so."""
  workdir = str(tmp_path)
  loop.train_and_evaluate(tiny_config(num_steps=8, checkpoint_every=4), workdir)
  real_restore = checkpoint.restore

  def flaky(mngr, step, template):
    if step == 8:
      raise error from OSError(errno.EIO, "Input/output error")
    return real_restore(mngr, step, template)

  monkeypatch.setattr(checkpoint, "restore", flaky)
  with pytest.raises(checkpoint.TransientReadError,
                     match="step 8 .*that is the storage, not the checkpoint, so nothing was "
                           "moved"):
    loop.train_and_evaluate(tiny_config(num_steps=12, checkpoint_every=4), workdir)
  assert not os.path.exists(os.path.join(workdir, "corrupt_checkpoints"))
  assert checkpoint.steps(workdir) == [4, 8]


def test_a_workdir_url_is_one_sentence(tmp_path, monkeypatch, finished_run):
  monkeypatch.chdir(tmp_path)
  with pytest.raises(UserError, match="--workdir=gs://bucket/run is a URL; gan_lab writes local "
                                      "paths only"):
    loop.train_and_evaluate(tiny_config(), "gs://bucket/run")
  with pytest.raises(UserError, match="--workdir=gs://bucket/tour is a URL"):
    tour.run(load_config_file("tour"), "gs://bucket/tour")
  with pytest.raises(UserError, match="--out=gs://bucket/t is a URL"):
    tables.table_paths("gs://bucket/t", "transfer")
  with pytest.raises(UserError, match="--out=gs://bucket/a is a URL"):
    robustness.attack_workdir(finished_run[1], [0.1], out="gs://bucket/a")
  with pytest.raises(UserError, match="--out=gs://bucket/s.png is a URL"):
    sampling.write_samples(finished_run[1], "gs://bucket/s.png", num=1)
  assert os.listdir(tmp_path) == []  # No "gs:" folder under the working directory.


@pytest.mark.parametrize("poison_loss,bad_update,match", [
    (True, 6, r"the loss is nan at step 6; the last good checkpoint \(step 4\)"),
    # The loss is computed before the update: only the parameters show the 8th going wrong,
    # and the checkpoint due at step 8 must not be written.
    (False, 8, r"the parameters became non-finite by step 8; the last good checkpoint "
               r"\(step 4\)"),
])
def test_diverging_run_names_the_step_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch, poison_loss, bad_update, match):
  base = experiments.get("classifier")
  config = tiny_config(experiment="nan_test", num_steps=12, log_every=2, checkpoint_every=4)

  def poisoned_step(state, batch, rng, axis_name=None):
    new_state, metrics = base.make_train_step(config)(state, batch, rng, axis_name=axis_name)
    poison = jnp.where(state.step == bad_update - 1, jnp.nan, 0.0)
    new_state = new_state.replace(params=jax.tree.map(lambda p: p + poison, new_state.params))
    return new_state, {**metrics, "loss": metrics["loss"] + (poison if poison_loss else 0.0)}

  monkeypatch.setitem(experiments.EXPERIMENTS, "nan_test",
                      experiments.Experiment(**{**base.__dict__,
                                                "make_train_step": lambda c: poisoned_step}))
  workdir = str(tmp_path)
  with pytest.raises(loop.TrainingDiverged, match=match) as e:
    loop.train_and_evaluate(config, workdir)
  assert "\n" not in str(e.value)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["4"]
  _, restored, step = restore.restore_classifier(workdir)
  assert step == 4 and all(np.isfinite(x).all() for x in jax.tree.leaves(restored.params))


def test_foreign_and_mismatched_workdirs_are_refused_untouched(tmp_path, finished_run):
  foreign = tmp_path / "foreign"
  foreign.mkdir()
  (foreign / "notes.txt").write_text("mine")
  with pytest.raises(UserError, match="not empty and holds no gan_lab run"):
    loop.train_and_evaluate(tiny_config(), str(foreign))
  assert os.listdir(foreign) == ["notes.txt"]

  _, workdir, _ = finished_run
  before = open(os.path.join(workdir, "config.json")).read()
  with pytest.raises(UserError, match="another config \\(differs in learning_rate, seed\\)"):
    loop.train_and_evaluate(tiny_config(learning_rate=0.5, seed=3), workdir)
  assert open(os.path.join(workdir, "config.json")).read() == before


def test_an_unwritable_output_path_is_refused_before_any_work(finished_run, tmp_path):
  """Each output path is checked first, so a bad one never throws finished work away."""
  _, workdir, _ = finished_run
  bad = "--out=/proc/gan_lab_x cannot be written"
  with pytest.raises(UserError, match=bad):
    tables.table_paths("/proc/gan_lab_x", "transfer")
  with pytest.raises(UserError, match=bad):
    robustness.attack_workdir(workdir, [0.1], out="/proc/gan_lab_x")
  with pytest.raises(UserError, match="--out=/proc/gan_lab_x.png cannot be written"):
    sampling.write_samples(workdir, "/proc/gan_lab_x.png", num=1)
  with pytest.raises(UserError, match="--workdir=/proc/gan_lab_x cannot be written"):
    tour.run(load_config_file("tour"), "/proc/gan_lab_x")
  (tmp_path / "file").write_text("x")
  with pytest.raises(UserError, match=r"--out=.*/file/t cannot be written \(.*is a file\)"):
    tables.table_paths(str(tmp_path / "file" / "t"), "transfer")
  started = time.time()
  out = run_script("transfer.py", f"--target={workdir}", f"--surrogates=same={workdir}",
                   "--out=/proc/gan_lab_x")
  assert out.returncode == 2 and "Traceback" not in out.stderr
  last = out.stderr.strip().splitlines()[-1]
  assert last.startswith("error: --out=/proc/gan_lab_x cannot be written (")
  assert last.endswith("); choose a writable path.")
  assert time.time() - started < 60  # Refused at once, not after the attacks.
  assert not any(name.startswith(".gan_lab_probe_") for name in os.listdir(tmp_path))


def test_a_second_run_of_a_workdir_in_use_is_one_sentence(finished_run, tmp_path):
  _, original, _ = finished_run
  workdir = tmp_path / "copy"
  shutil.copytree(original, workdir)
  before = (workdir / "metrics.jsonl").read_text()
  # flock locks of two opens conflict even within one process: this plays the other run.
  with workdirs.lock(str(workdir)):
    with pytest.raises(UserError, match=rf"Workdir {workdir} is in use by another run \(process "
                                        rf"{os.getpid()} on .* since .*\); wait for it"):
      loop.train_and_evaluate(tiny_config(num_steps=12, eval_every=8, checkpoint_every=4),
                              str(workdir))
  assert (workdir / "metrics.jsonl").read_text() == before  # Nothing interleaved.


def test_eval_every_beyond_the_run_is_a_warning(tmp_path, caplog):
  with caplog.at_level("WARNING"):
    loop.train_and_evaluate(tiny_config(num_steps=4, eval_every=8), str(tmp_path))
  assert "config.eval_every (8) is more than the run's 4 steps" in caplog.text


def test_unwritable_workdir(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("x")
  with pytest.raises(UserError, match="Cannot create workdir .*choose a writable path"):
    workdirs.prepare(str(blocker / "run"), tiny_config())


@pytest.mark.parametrize("overrides,match", [
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(batch_size=5000), "larger than the 4000 training examples"),
    (dict(eval_every=3), "multiple of config.log_every"),
    (dict(dataset="imagenet"), "Unknown dataset 'imagenet'"),
    (dict(experiment="gan9"), "Unknown experiment 'gan9'"),
    (dict(optimizer="lion"), "Unknown optimizer 'lion'"),
    (dict(learning_rate=0.0), "learning_rate must be positive"),
    (dict(lr_schedule="cosin"), "Unknown config.lr_schedule 'cosin'"),
    (dict(on_device="yes"), "Unknown config.on_device 'yes'"),
    (dict(parallel="mpi"), "Unknown config.parallel 'mpi'"),
    (dict(num_steps=-1, num_epochs=0), "The run has 0 steps"),
    (dict(model="ResNet"), "Unknown model 'ResNet'"),
    (dict(model_kwargs={"layers": ({"filter": 4},), "dense": (16,)}),
     "A ConvLayer has no field 'filter'"),
    (dict(model_kwargs={"layers": ({"filters": 4, "pool": "min"},), "dense": (16,)}),
     "A ConvLayer's pool must be 'max', 'avg' or 'none'; got 'min'"),
    (dict(model_kwargs={"width": 3}), "Model ConvNet has no argument 'width'"),
    (dict(conv="cudnn"), "config.conv 'cudnn' is not a convolution implementation"),
    (dict(data_dir="/nonexistent/tfds"), "data_dir /nonexistent/tfds does not exist"),
])
def test_bad_configs_fail_before_writing(tmp_path, overrides, match):
  with pytest.raises(UserError, match=match):
    loop.train_and_evaluate(tiny_config(**overrides), str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run")  # The same workdir stays usable once fixed.
  assert not os.path.exists("/nonexistent")  # Not created as a side effect.


@pytest.mark.parametrize("flag,message", [
    ("--config.learning_rat=0.1", "error: Unknown config key 'config.learning_rat': the config "
     "has no field 'learning_rat'; did you mean 'learning_rate'?"),
    ("--config.model_kwargs.width=4", "error: Unknown config key 'config.model_kwargs.width': "
     "the config has no field 'width'; a model's own arguments can be set from the command "
     "line once the config file declares them (config.model_kwargs.width = <default>; see "
     "docs/extending.md)."),
    ("--config.batch_size=many", "error: Bad flag: flag --config.batch_size=many"),
    ("--config.model=ResNet", "error: Unknown model 'ResNet'"),
])
def test_script_reports_bad_input_in_one_line(tmp_path, flag, message):
  out = run_script("train.py", "--config=experiments/configs/seed_cnn_mnist5k.py",
                   f"--workdir={tmp_path / 'run'}", flag)
  assert out.returncode == 2
  assert "Traceback" not in out.stderr
  assert message in out.stderr
  assert len([l for l in out.stderr.splitlines() if l.startswith("error:")]) == 1


def test_debug_switch_shows_the_traceback_behind_the_sentence(tmp_path):
  args = ("train.py", "--config=experiments/configs/seed_cnn_mnist5k.py",
          f"--workdir={tmp_path / 'run'}", "--config.model=ResNet")
  quiet, debug = run_script(*args), run_script(*args, env={"GAN_LAB_DEBUG": "1"})
  assert quiet.returncode == debug.returncode == 2
  assert "Traceback" not in quiet.stderr
  assert "Traceback" in debug.stderr and "registry.py" in debug.stderr
  assert debug.stderr.strip().splitlines()[-1] == quiet.stderr.strip().splitlines()[-1] == (
      "error: Unknown model 'ResNet'; choose one of SeedCNN, ConvNet, MLP, DenseGenerator, "
      "DenseDiscriminator, DCGANGenerator, DCGANDiscriminator, or name your own as "
      "'package.module:attribute'.")


def test_script_rejects_a_missing_config_file(tmp_path):
  out = run_script("train.py", "--config=experiments/configs/nope.py", f"--workdir={tmp_path}")
  assert out.returncode == 2 and "Traceback" not in out.stderr
  assert "error: Cannot load config file 'experiments/configs/nope.py'" in out.stderr


def test_a_run_from_before_a_field_existed_resumes_when_it_holds_the_old_behaviour(tmp_path):
  """adv.beta came with TRADES: an adversarial run written before it still resumes, with
  beta at its default; a changed beta is another config."""
  config = adversarial_config()
  workdirs.prepare(str(tmp_path), config)
  saved = json.loads((tmp_path / "config.json").read_text())
  del saved["adv"]["beta"]  # As an older gan_lab wrote it.
  (tmp_path / "config.json").write_text(json.dumps(saved))
  workdirs.prepare(str(tmp_path), config)
  (tmp_path / "config.json").write_text(json.dumps(saved))
  config.adv.beta = 1.0
  with pytest.raises(UserError, match="differs in adv.beta"):
    workdirs.prepare(str(tmp_path), config)
