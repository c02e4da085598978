"""`train_and_evaluate(config, workdir)`: the one training loop every experiment runs through.

Each chunk of `log_every` steps is one jitted `lax.scan` per device over its share of the
chunk's batches, so no Python runs per step. When the training split fits, it is put on the
devices once and batches are gathered there; otherwise each chunk's batches are gathered on
the host and sent over: the same indices, the same scan, the same numbers. Batch order and
step keys are functions of the global step, so a resumed run repeats an uninterrupted one
exactly, and the split of a batch over devices does not change the numbers either.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from gan_lab import checkpoint, data, parallel, viz, workdirs, writers
from gan_lab.errors import UserError
from gan_lab.training import experiments


ON_DEVICE = {"auto": None, "true": True, "false": False}
LR_SCHEDULES = ("constant", "cosine")


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


@jax.jit
def all_finite(tree) -> jax.Array:
  return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def fits_on_device(nbytes: int, device=None) -> bool:
  """True when the data takes at most a quarter of the device's memory (of RAM on CPU)."""
  device = device or jax.local_devices()[0]
  stats = device.memory_stats() or {}
  limit = stats.get("bytes_limit") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
  return nbytes <= limit // 4


class Batcher:
  """Global [steps, batch, ...] arrays from example indices, split over devices by batch.

  With `on_device` (one process), the arrays are copied to every device once and batches
  are gathered there; otherwise each process gathers the rows its own devices hold on the
  host and sends only those.
  """

  def __init__(self, arrays: dict, mesh, on_device: bool):
    self._arrays = arrays
    self._sharding = parallel.sharded(mesh, batch_axis=1)
    self._resident = jax.device_put(arrays, parallel.replicated(mesh)) if on_device else None
    self._take = jax.jit(lambda a, i: jax.tree.map(lambda x: x[i], a),
                         out_shardings=self._sharding)

  def __call__(self, indices: np.ndarray) -> dict:
    if self._resident is not None:
      return self._take(self._resident, indices)
    rows = parallel.process_rows(self._sharding, indices.shape, axis=1)
    return {k: self.host_to_global(v[indices[:, rows]], indices.shape)
            for k, v in self._arrays.items()}

  def host_to_global(self, local: np.ndarray, shape) -> jax.Array:
    """This process's rows [steps, rows, ...] of a global [steps, batch, ...] array."""
    return parallel.global_batch(local, self._sharding, (*shape, *local.shape[2:]))


def make_train_chunk(train_step, mesh, backend: str = "shard_map"):
  """(state, batches [L, B, ...], steps [L], key) -> (state, metrics [L]) on all devices.

  Per device, one `lax.scan` over its share of L batches: no Python runs per step.
  """

  def per_device(state, batches, steps, key):
    def body(state, xs):
      batch, step = xs
      return train_step(state, batch, jax.random.fold_in(key, step), axis_name=parallel.AXIS)
    return jax.lax.scan(body, state, (batches, steps))

  fn = parallel.data_parallel(per_device, mesh, (None, 1, None, None), (None, None), backend)
  return fn if backend == "pmap" else jax.jit(fn, donate_argnums=(0,))


def make_evaluate(eval_step, eval_metrics, batch_size: int, mesh, backend: str = "shard_map"):
  """evaluate(state, batcher, n) -> named metrics over examples 0..n-1 of the batcher's split."""

  def per_device(state, batches, mask):
    def body(_, xs):
      batch, m = xs
      return None, eval_step(state, {**batch, "mask": m})
    _, sums = jax.lax.scan(body, None, (batches, mask))
    return (jax.lax.psum(jax.tree.map(jnp.sum, sums), parallel.AXIS),)

  fn = parallel.data_parallel(per_device, mesh, (None, 1, 1), (None,), backend)
  run = fn if backend == "pmap" else jax.jit(fn)

  def evaluate(state, batcher: Batcher, n: int):
    padded = -(-n // batch_size) * batch_size
    indices = (np.arange(padded) % n).reshape(-1, batch_size)
    mask = (np.arange(padded) < n).astype(np.float32).reshape(-1, batch_size)
    rows = parallel.process_rows(parallel.sharded(mesh, 1), mask.shape, axis=1)
    (sums,) = run(state, batcher(indices), batcher.host_to_global(mask[:, rows], mask.shape))
    return {k: float(v) for k, v in eval_metrics(sums).items()}

  return evaluate


def _validate(config, mesh) -> None:
  """Checks the settings that need no data, before anything is compiled or written."""
  _positive(config, "batch_size", "eval_batch_size", "log_every", "keep_checkpoints")
  parallel.check_divisible("config.batch_size", config.batch_size, mesh)
  for name, allowed in (("parallel", parallel.BACKENDS), ("on_device", ON_DEVICE),
                        ("lr_schedule", LR_SCHEDULES)):
    if str(config[name]).lower() not in allowed:
      raise UserError(f"Unknown config.{name} {config[name]!r}; choose one of "
                      f"{', '.join(allowed)}.")
  for name in ("eval_every", "checkpoint_every"):
    if config[name] % config.log_every:
      raise UserError(f"config.{name} ({config[name]}) must be a multiple of config.log_every "
                      f"({config.log_every}), since metrics and checkpoints come per chunk.")


def _diverged(metrics, params_finite: bool, begin: int, end: int, mngr, workdir) -> str | None:
  """The sentence for a chunk whose loss or parameters are not finite; None when all is well."""
  losses = np.asarray(metrics["loss"])
  if np.all(np.isfinite(losses)) and params_finite:
    return None
  if np.all(np.isfinite(losses)):
    what = f"the parameters became non-finite by step {end}"
  else:
    bad = int(np.argmax(~np.isfinite(losses)))
    what = f"the loss is {losses[bad]} at step {begin + bad + 1}"
  mngr.wait_until_finished()
  last = mngr.latest_step()
  kept = (f"the last good checkpoint (step {last}) in {checkpoint.checkpoint_dir(workdir)} is kept"
          if last is not None else "no checkpoint was written yet")
  return f"Training diverged: {what}; {kept}; lower the learning rate and train in a new workdir."


def train_and_evaluate(config, workdir: str):
  """Trains `config.experiment` in `workdir`, resuming from its latest checkpoint; returns the state.

  Every check of the config, the data and the model runs before the workdir is touched.
  """
  mesh = parallel.make_mesh()
  _validate(config, mesh)
  experiment = experiments.get(config.experiment)
  data.info(config.dataset)
  data_dir = config.data_dir or None
  train, test = (data.load(config.dataset, s, data_dir) for s in ("train", "test"))
  n = len(train["label"])
  if config.batch_size > n:
    raise UserError(f"batch_size {config.batch_size} is larger than the {n} training examples.")
  total = num_steps(config, n)
  if total <= 0:
    raise UserError(f"The run has {total} steps; set config.num_epochs or config.num_steps > 0.")
  init_key, step_key = jax.random.split(jax.random.key(config.seed))
  state = jax.device_put(experiment.init_state(config, init_key, total),
                         parallel.replicated(mesh))

  workdir = workdirs.prepare(workdir, config)
  mngr = checkpoint.manager(workdir, config.keep_checkpoints)
  restored, start = checkpoint.restore_latest(mngr, state, workdir=workdir, set_aside=True)
  state, start = (restored, start) if restored is not None else (state, 0)
  if start:
    logging.info("Resuming %s from step %d.", workdir, start)

  on_device = ON_DEVICE[str(config.on_device).lower()]
  if on_device is None:
    on_device = fits_on_device(sum(a.nbytes for a in (*train.values(), *test.values())))
  on_device = on_device and jax.process_count() == 1  # Many hosts: each sends its own rows.
  train_batches, test_batches = Batcher(train, mesh, on_device), Batcher(test, mesh, on_device)
  train_chunk = make_train_chunk(experiment.train_step, mesh, config.parallel)
  # Eval batches only set throughput: round up to a multiple of the device count.
  eval_batch = -(-config.eval_batch_size // mesh.size) * mesh.size
  evaluate = make_evaluate(experiment.eval_step, experiment.eval_metrics, eval_batch, mesh,
                           config.parallel)

  is_main = jax.process_index() == 0
  writer = writers.MetricWriter(workdir, resume_step=start) if is_main else None
  progress = writers.Progress(total, initial=start)
  try:
    for begin, end in chunk_bounds(start, total, config.log_every):
      batches = train_batches(batch_indices(config.seed, n, config.batch_size, begin, end))
      steps = np.arange(begin, end, dtype=np.int32)
      state, metrics = train_chunk(state, batches, steps, step_key)
      message = _diverged(metrics, bool(all_finite(state.params)), begin, end, mngr, workdir)
      if message:
        raise TrainingDiverged(message)
      scalars = {f"train_{k}": float(np.mean(v)) for k, v in metrics.items()}
      if end == total or (config.eval_every > 0 and end % config.eval_every == 0):
        scalars.update(evaluate(state, test_batches, len(test["label"])))
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
