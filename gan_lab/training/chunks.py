"""Running steps on the devices: batches placed over the mesh, and jitted scans of steps.

The training loop and every experiment's evaluation use these, so that data placement and
the per-device scan are written once.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from gan_lab import parallel


@jax.jit
def all_finite(tree) -> jax.Array:
  return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def fits_on_device(nbytes: int, device=None) -> bool:
  """True when the data takes at most a quarter of the device's memory (of RAM on CPU)."""
  device = device or jax.local_devices()[0]
  stats = device.memory_stats() or {}
  limit = stats.get("bytes_limit") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
  return nbytes <= limit // 4


def with_index(split: dict) -> dict:
  """A split's arrays plus each example's index ("index"), which can key its randomness."""
  return {**split, "index": np.arange(len(split["label"]), dtype=np.int32)}


class Batcher:
  """Global [steps, batch, ...] arrays from example indices, split over devices by batch.

  With `on_device` (one process), the arrays are copied to every device once and batches
  are gathered there; otherwise each process gathers the rows its own devices hold on the
  host and sends only those.
  """

  def __init__(self, arrays: dict, mesh, on_device: bool):
    self.arrays = arrays  # The host arrays, as given.
    self._sharding = parallel.sharded(mesh, batch_axis=1)
    self._resident = jax.device_put(arrays, parallel.replicated(mesh)) if on_device else None
    self._take = jax.jit(lambda a, i: jax.tree.map(lambda x: x[i], a),
                         out_shardings=self._sharding)

  def __call__(self, indices: np.ndarray) -> dict:
    if self._resident is not None:
      return self._take(self._resident, indices)
    rows = parallel.process_rows(self._sharding, indices.shape, axis=1)
    return {k: self.host_to_global(v[indices[:, rows]], indices.shape)
            for k, v in self.arrays.items()}

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


def make_scan_evaluate(eval_step, eval_metrics, batch_size: int, mesh,
                       backend: str = "shard_map"):
  """evaluate(state, batcher, n) -> named metrics over examples 0..n-1 of the batcher's split.

  `eval_step(state, batch with a 0/1 "mask") -> sums` runs per device; sums are added up.
  """

  def per_device(state, batches, mask):
    def body(_, xs):
      batch, m = xs
      return None, eval_step(state, {**batch, "mask": m})
    _, sums = jax.lax.scan(body, None, (batches, mask))
    # Over the batches only: a sum may be an array (a histogram).
    return (jax.lax.psum(jax.tree.map(lambda v: jnp.sum(v, axis=0), sums), parallel.AXIS),)

  fn = parallel.data_parallel(per_device, mesh, (None, 1, 1), (None,), backend)
  run = fn if backend == "pmap" else jax.jit(fn)

  def evaluate(state, batcher: Batcher, n: int):
    padded = -(-n // batch_size) * batch_size
    indices = (np.arange(padded) % n).reshape(-1, batch_size)
    mask = (np.arange(padded) < n).astype(np.float32).reshape(-1, batch_size)
    rows = parallel.process_rows(parallel.sharded(mesh, 1), mask.shape, axis=1)
    (sums,) = run(state, batcher(indices), batcher.host_to_global(mask[:, rows], mask.shape))
    return {k: None if v is None else float(v) for k, v in eval_metrics(sums).items()}

  return evaluate
