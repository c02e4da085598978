"""`train_and_evaluate(config, workdir)`: the one training loop every experiment runs through.

The training split is put on the device once when it fits; each chunk of `log_every` steps is
then one jitted `lax.scan` over batches gathered on the device, so no Python runs per step.
When it does not fit, each chunk's batches are gathered on the host and sent over instead:
the same indices, the same jitted scan, the same numbers. Batch order and step keys are
functions of the global step, so a resumed run repeats an uninterrupted one exactly.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from gan_lab import checkpoint, data, viz, workdirs, writers
from gan_lab.errors import UserError
from gan_lab.training import experiments


class TrainingDiverged(UserError):
  """The loss became NaN or infinite; the last good checkpoint is kept."""


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


def fits_on_device(nbytes: int, device=None) -> bool:
  """True when the data takes at most a quarter of the device's memory (of RAM on CPU)."""
  device = device or jax.local_devices()[0]
  stats = device.memory_stats() or {}
  limit = stats.get("bytes_limit") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
  return nbytes <= limit // 4


def make_train_chunk(train_step):
  """jit(scan(train_step)) over rows of example indices into `arrays` (on device)."""

  @functools.partial(jax.jit, donate_argnums=(0,))
  def train_chunk(state, arrays, indices, steps, key):
    def body(state, xs):
      idx, step = xs
      batch = jax.tree.map(lambda a: a[idx], arrays)
      return train_step(state, batch, jax.random.fold_in(key, step))
    return jax.lax.scan(body, state, (indices, steps))

  return train_chunk


def make_evaluate(eval_step, eval_metrics, batch_size: int):
  """evaluate(state, arrays) -> named metrics over the whole split, batched on the device."""

  @jax.jit
  def run(state, arrays, indices, mask):
    def body(_, xs):
      idx, m = xs
      batch = {**jax.tree.map(lambda a: a[idx], arrays), "mask": m}
      return None, eval_step(state, batch)
    _, sums = jax.lax.scan(body, None, (indices, mask))
    return jax.tree.map(jnp.sum, sums)

  def evaluate(state, arrays):
    n = len(arrays["label"])
    padded = -(-n // batch_size) * batch_size
    indices = np.arange(padded) % n
    mask = (np.arange(padded) < n).astype(np.float32)
    sums = run(state, arrays, indices.reshape(-1, batch_size), mask.reshape(-1, batch_size))
    return {k: float(v) for k, v in eval_metrics(sums).items()}

  return evaluate


def train_and_evaluate(config, workdir: str):
  """Trains `config.experiment` in `workdir`, resuming from its latest checkpoint; returns the state."""
  _positive(config, "batch_size", "eval_batch_size", "log_every", "keep_checkpoints")
  for name in ("eval_every", "checkpoint_every"):
    if config[name] % config.log_every:
      raise UserError(f"config.{name} ({config[name]}) must be a multiple of config.log_every "
                      f"({config.log_every}), since metrics and checkpoints come per chunk.")
  experiment = experiments.get(config.experiment)
  ds_info = data.info(config.dataset)
  workdir = workdirs.prepare(workdir, config)
  data_dir = config.data_dir or None
  train, test = (data.load(config.dataset, s, data_dir) for s in ("train", "test"))
  n = len(train["label"])
  if config.batch_size > n:
    raise UserError(f"batch_size {config.batch_size} is larger than the {n} training examples.")
  total = num_steps(config, n)

  init_key, step_key = jax.random.split(jax.random.key(config.seed))
  state = experiment.init_state(config, init_key, total)
  mngr = checkpoint.manager(workdir, config.keep_checkpoints)
  restored, start = checkpoint.restore_latest(mngr, state, quarantine_in=workdir)
  state, start = (restored, start) if restored is not None else (state, 0)
  if start:
    logging.info("Resuming %s from step %d.", workdir, start)

  on_device = {"auto": None, "true": True, "false": False}[str(config.on_device).lower()]
  if on_device is None:
    on_device = fits_on_device(sum(a.nbytes for a in (*train.values(), *test.values())))
  train_dev = jax.device_put(train) if on_device else None
  test_dev = jax.device_put(test)
  train_chunk = make_train_chunk(experiment.train_step)
  evaluate = make_evaluate(experiment.eval_step, experiment.eval_metrics, config.eval_batch_size)

  is_main = jax.process_index() == 0
  writer = writers.MetricWriter(workdir, resume_step=start) if is_main else None
  progress = writers.Progress(total, initial=start)
  try:
    for begin, end in chunk_bounds(start, total, config.log_every):
      indices = batch_indices(config.seed, n, config.batch_size, begin, end)
      if on_device:
        arrays = train_dev
      else:  # The chunk's batches, gathered on the host; the scan then reads them in order.
        arrays = jax.device_put({k: v[indices.ravel()] for k, v in train.items()})
        indices = np.arange(indices.size).reshape(indices.shape)
      steps = np.arange(begin, end, dtype=np.int32)
      state, metrics = train_chunk(state, arrays, indices, steps, step_key)
      losses = np.asarray(metrics["loss"])
      if not np.all(np.isfinite(losses)):
        bad = begin + int(np.argmax(~np.isfinite(losses))) + 1
        mngr.wait_until_finished()
        last = mngr.latest_step()
        kept = (f"the last good checkpoint (step {last}) in {checkpoint.checkpoint_dir(workdir)} "
                "is kept" if last is not None else "no checkpoint was written yet")
        raise TrainingDiverged(
            f"Training diverged: the loss is {losses[bad - begin - 1]} at step {bad}; {kept}; "
            "lower the learning rate and train in a new workdir.")
      scalars = {f"train_{k}": float(np.mean(v)) for k, v in metrics.items()}
      if end == total or (config.eval_every > 0 and end % config.eval_every == 0):
        scalars.update(evaluate(state, test_dev))
      if writer:
        writer.write(end, scalars)
      progress.update(end, scalars)
      if end == total or (config.checkpoint_every > 0 and end % config.checkpoint_every == 0):
        checkpoint.save(mngr, end, state)
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
