"""`train_and_evaluate(config, workdir)`: the one training loop every experiment runs through.

Each chunk of `log_every` steps is one jitted `lax.scan` per device over its share of the
chunk's batches, so no Python runs per step. When the training split fits, it is put on the
devices once and batches are gathered there; otherwise each chunk's batches are gathered on
the host and sent over: the same indices, the same scan, the same numbers. Batch order and
step keys are functions of the global step, so a resumed run repeats an uninterrupted one
exactly, and the split of a batch over devices does not change the numbers either.
"""

import contextlib
import os
import signal
import threading

import jax
import numpy as np
from absl import logging

from gan_lab import data, parallel, viz
from gan_lab.core.errors import UserError
from gan_lab.models import conv
from gan_lab.runs import checkpoint, experiments, workdirs, writers
from gan_lab.training import chunks


ON_DEVICE = {"auto": None, "true": True, "false": False}


class TrainingDiverged(UserError):
  """A metric or the state became NaN or infinite; the last good checkpoint is kept."""


class Stopped(UserError):
  """SIGINT or SIGTERM stopped the run after a chunk, with a checkpoint of that chunk."""
  prefix = "stopped"

  def __init__(self, message: str, signum: int):
    super().__init__(message)
    self.exit_code = 128 + signum  # As the shell reports a process ended by that signal.


@contextlib.contextmanager
def _stop_requests():
  """Yields the list of SIGINT/SIGTERM signals received while the block runs: the loop stops
  after the chunk it is in (a second Ctrl-C stops at once). With many processes, JAX's
  preemption service handles SIGTERM instead (`CheckpointManager.reached_preemption`)."""
  received = []
  if jax.process_count() > 1 or threading.current_thread() is not threading.main_thread():
    yield received
    return

  def handler(signum, frame):
    del frame
    if received and signum == signal.SIGINT:
      raise KeyboardInterrupt
    received.append(signum)

  previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
  try:
    yield received
  finally:
    for s, h in previous.items():
      signal.signal(s, h)


def _positive(config, *names):
  for name in names:
    if not config[name] > 0:
      raise UserError(f"config.{name} must be a positive integer; got {config[name]}.")


def num_steps(config, train_size: int) -> int:
  """`config.num_steps` when set (> 0), else `num_epochs` full epochs (last partial batch dropped)."""
  return config.num_steps if config.num_steps > 0 else config.num_epochs * (
      train_size // config.batch_size)


def chunk_bounds(start: int, total: int, log_every: int) -> list[tuple[int, int]]:
  """[(begin, end)] covering [start, total), ending at multiples of `log_every` and at `total`.

  Bounds depend only on the global step, so a resumed run compiles and runs the same chunks
  as an uninterrupted one; all but the last have one length, so one compilation serves them.
  """
  ends = [*range((start // log_every + 1) * log_every, total, log_every), total]
  return list(zip([start, *ends[:-1]], ends)) if start < total else []


def batch_indices(seed: int, n: int, batch_size: int, begin: int, end: int) -> np.ndarray:
  """Example indices [end - begin, batch_size] for global steps [begin, end).

  Each epoch is a fresh permutation of the n examples (seeded by `seed` and the epoch);
  its last n % batch_size examples are dropped, so every step has a full batch.
  """
  steps_per_epoch = n // batch_size
  rows = []
  for epoch in range(begin // steps_per_epoch, (end - 1) // steps_per_epoch + 1):
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    first = max(begin, epoch * steps_per_epoch) - epoch * steps_per_epoch
    last = min(end, (epoch + 1) * steps_per_epoch) - epoch * steps_per_epoch
    rows.append(perm[first * batch_size:last * batch_size].reshape(-1, batch_size))
  return np.concatenate(rows)


def _validate(config, mesh) -> None:
  """Checks the settings that need no data, before anything is compiled or written."""
  _positive(config, "batch_size", "eval_batch_size", "log_every", "keep_checkpoints")
  parallel.check_divisible("config.batch_size", config.batch_size, mesh)
  for name, allowed in (("parallel", parallel.BACKENDS), ("on_device", ON_DEVICE)):
    if str(config[name]).lower() not in allowed:
      raise UserError(f"Unknown config.{name} {config[name]!r}; choose one of "
                      f"{', '.join(allowed)}.")
  for name in ("eval_every", "checkpoint_every"):
    if config[name] % config.log_every:
      raise UserError(f"config.{name} ({config[name]}) must be a multiple of config.log_every "
                      f"({config.log_every}), since metrics and checkpoints come per chunk.")


def _diverged(metrics, state_finite: bool, begin: int, end: int, mngr, workdir) -> str | None:
  """The sentence for a chunk whose metrics or state are not finite; None when all is well."""
  bad_steps = {k: np.flatnonzero(~np.isfinite(np.asarray(v))) for k, v in metrics.items()}
  bad_steps = {k: v for k, v in bad_steps.items() if v.size}
  if not bad_steps and state_finite:
    return None
  if not bad_steps:
    what = f"the parameters became non-finite by step {end}"
  else:  # The first step that went wrong, and its first non-finite metric (loss first).
    name = min(bad_steps, key=lambda k: (bad_steps[k][0], k != "loss", k))
    i = bad_steps[name][0]
    what = f"the {name} is {np.asarray(metrics[name])[i]} at step {begin + i + 1}"
  mngr.wait_until_finished()
  last = mngr.latest_step()
  kept = (f"the last good checkpoint (step {last}) in {checkpoint.checkpoint_dir(workdir)} is kept"
          if last is not None else "no checkpoint was written yet")
  return f"Training diverged: {what}; {kept}; lower the learning rate and train in a new workdir."


def _check_fresh_start(workdir: str, restart: bool) -> None:
  """A run that finds no checkpoint must not write over the results one left: refuse, or
  with `restart`, move them aside (never delete them) and start over."""
  records = writers.read_metrics(workdir)
  if not records:
    return
  if not restart:
    raise UserError(
        f"Workdir {workdir} holds the results of a run (metrics up to step "
        f"{records[-1]['step']}) but no checkpoint to resume from; pass --restart to start "
        "over (the old results are moved aside, not deleted), or use a new workdir.")
  if jax.process_index() == 0:
    aside = workdirs.set_aside_results(workdir)
    logging.warning("Starting %s over: the earlier results are in %s.", workdir, aside)


def train_and_evaluate(config, workdir: str, restart: bool = False):
  """Trains `config.experiment` in `workdir`, resuming from its latest checkpoint; returns the state.

  Every check of the config, the data and the model runs before the workdir is touched,
  and the workdir is locked while the run uses it (`workdirs.lock`). A workdir with results
  but no checkpoint is refused, unless `restart` (then they are moved aside first).
  """
  mesh = parallel.make_mesh()
  _validate(config, mesh)
  if "conv" in config:  # config.json records the convolution that runs, not "auto".
    config = config.copy_and_resolve_references()
    config.conv = conv.resolve(config.conv)
  workdir = workdirs.local_path(workdir)
  experiment = experiments.get(config.experiment)
  data_dir = config.data_dir or None
  loaded = [data.load(config.dataset, s, data_dir) for s in ("train", "test")]
  train, test = experiment.prepare_data(config, *loaded)
  n = len(train["label"])
  if config.batch_size > n:
    raise UserError(f"batch_size {config.batch_size} is larger than the {n} training examples.")
  total = num_steps(config, n)
  if total <= 0:
    raise UserError(f"The run has {total} steps; set config.num_epochs or config.num_steps > 0.")
  if config.eval_every > total:
    logging.warning("config.eval_every (%d) is more than the run's %d steps, so it evaluates "
                    "only at the end; lower eval_every for a curve over training.",
                    config.eval_every, total)
  init_key, step_key = jax.random.split(jax.random.key(config.seed))
  state = jax.device_put(experiment.init_state(config, init_key, total),
                         parallel.replicated(mesh))

  on_device = ON_DEVICE[str(config.on_device).lower()]
  if on_device is None:
    on_device = chunks.fits_on_device(sum(a.nbytes for a in (*train.values(), *test.values())))
  on_device = on_device and jax.process_count() == 1  # Many hosts: each sends its own rows.
  train_batches = chunks.Batcher(train, mesh, on_device)
  train_chunk = chunks.make_train_chunk(experiment.make_train_step(config), mesh,
                                         config.parallel)
  # Before the workdir is touched: evaluation may restore and check other runs.
  test_batches = chunks.Batcher(chunks.with_index(test), mesh, on_device)
  evaluate = experiment.make_evaluate(config, mesh, test_batches, len(test["label"]), workdir)

  # One run at a time in a workdir: a second one gets a sentence instead of interleaving.
  with workdirs.lock(workdir):
    workdir = workdirs.prepare(workdir, config)
    mngr = checkpoint.manager(workdir, config.keep_checkpoints)
    restored, start = checkpoint.restore_latest(mngr, state, workdir=workdir, set_aside=True)
    if restored is None:
      _check_fresh_start(workdir, restart)
    if jax.process_index() == 0:
      experiment.write_run_files(config, workdir, *loaded)
    del loaded  # Only the prepared arrays are needed from here on.
    state, start = (restored, start) if restored is not None else (state, 0)
    if start:
      logging.info("Resuming %s from step %d.", workdir, start)
    history = [r for r in writers.read_metrics(workdir) if r["step"] <= start] if start else []

    is_main = jax.process_index() == 0
    writer = writers.MetricWriter(workdir, resume_step=start) if is_main else None
    progress = writers.Progress(total, initial=start)
    try:
      with _stop_requests() as received:
        for begin, end in chunk_bounds(start, total, config.log_every):
          batches = train_batches(batch_indices(config.seed, n, config.batch_size, begin, end))
          steps = np.arange(begin, end, dtype=np.int32)
          state, metrics = train_chunk(state, batches, steps, step_key)
          message = _diverged(metrics, bool(chunks.all_finite(state)), begin, end, mngr,
                              workdir)
          if message:
            raise TrainingDiverged(message)
          scalars = {f"train_{k}": float(np.mean(v)) for k, v in metrics.items()}
          history.append({"step": end, **scalars})
          images = {}
          if end == total or (config.eval_every > 0 and end % config.eval_every == 0):
            for k, v in evaluate(state, end).items():
              (images if np.ndim(v) == 4 else scalars)[f"test_{k}"] = v
            history[-1].update(scalars)
            for warning in experiment.diagnose(config, history):
              logging.warning("Step %d: %s", end, warning)
          if writer:
            writer.write(end, scalars, images)
          progress.update(end, scalars)
          # Preemption (SIGTERM) or Ctrl-C: keep the chunk just finished, then stop.
          stop = end < total and (bool(received) or (
              jax.process_count() > 1 and mngr.reached_preemption(end)))
          if stop or end == total or (config.checkpoint_every > 0
                                      and end % config.checkpoint_every == 0):
            checkpoint.save(mngr, end, state)
          if stop:
            mngr.wait_until_finished()
            signum = received[0] if received else signal.SIGTERM
            raise Stopped(f"{signal.Signals(signum).name} stopped the run at step {end} of "
                          f"{total} with a checkpoint there ({checkpoint.checkpoint_dir(workdir)})"
                          "; re-run the same command to resume.", signum)
      mngr.wait_until_finished()
    finally:
      progress.close()
      if writer:
        writer.close()
      mngr.close()

    if is_main:
      viz.training_curves(writers.read_metrics(workdir), os.path.join(workdir, "curves.png"))
      experiment.figures(state, config, test, workdir)
    return state


def train_many(configs: dict, workdir: str) -> dict:
  """Trains each of {name: config} in <workdir>/<name>, in order; {name: its final metrics}.

  For comparisons over settings or seeds. Re-running resumes cut-short runs and reuses
  finished ones, as `train_and_evaluate` does.
  """
  final = {}
  for name, config in configs.items():
    run_dir = os.path.join(workdirs.local_path(workdir), name)
    train_and_evaluate(config, run_dir)
    final[name] = {"workdir": run_dir, **writers.read_metrics(run_dir)[-1]}
  return final
