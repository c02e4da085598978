"""Data parallelism: one per-device step, written in the pmap style, on every device.

Steps are written for one device's share of the batch with `axis_name=AXIS`: they average
gradients and metrics with `lax.pmean(..., AXIS)` (and sum eval counts with `lax.psum`).
`data_parallel` runs such a function on a 1-D mesh over all devices, of one host or many,
with `jax.shard_map` (the default) or `jax.pmap`; both give the same numbers.

`shard_map` runs with `check_vma=False`: gradients w.r.t. replicated parameters are then
per-device values that the step itself averages. (With `check_vma=True` JAX would already
sum them, and the step's pmean would leave them N times too large.) Gradients w.r.t. inputs
(attacks, VAT) are per-example and are never averaged.
"""

import socket
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gan_lab.errors import UserError

AXIS = "data"
BACKENDS = ("shard_map", "pmap")


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh named AXIS over `devices` (all devices of all processes by default)."""
  return Mesh(np.asarray(devices if devices is not None else jax.devices()), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def sharded(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
  """Arrays split along `batch_axis` (the batch) across the devices of `mesh`."""
  return NamedSharding(mesh, P(*([None] * batch_axis), AXIS))


def check_divisible(name: str, size: int, mesh: Mesh) -> None:
  """Before any compilation: a global batch must split evenly over the devices."""
  if size % mesh.size:
    raise UserError(
        f"{name} {size} is not divisible by the {mesh.size} devices; use a multiple of "
        f"{mesh.size} so that every device gets the same share.")


def data_parallel(fn, mesh: Mesh, batch_axes, out_batch_axes, backend: str = "shard_map"):
  """Runs per-device `fn` on every device of `mesh` with global arrays in and out.

  `batch_axes[i]` is the axis along which positional argument i is split over the devices
  (None: the same value on every device); `out_batch_axes` likewise for the outputs.
  """
  if backend == "shard_map":
    spec = lambda axis: P() if axis is None else P(*([None] * axis), AXIS)
    return jax.shard_map(fn, mesh=mesh, in_specs=tuple(map(spec, batch_axes)),
                         out_specs=tuple(map(spec, out_batch_axes)), check_vma=False)
  if backend != "pmap":
    raise UserError(f"Unknown parallel backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
  if jax.process_count() > 1:
    raise UserError("The pmap backend runs on one host; use parallel='shard_map' on many.")
  n = mesh.size
  mapped = jax.pmap(fn, axis_name=AXIS, in_axes=tuple(batch_axes),
                    out_axes=tuple(out_batch_axes), devices=list(mesh.devices.flat))

  def split(x, axis):  # [.., B, ..] -> [.., n, B/n, ..], mapped along the new axis.
    return x.reshape(*x.shape[:axis], n, x.shape[axis] // n, *x.shape[axis + 1:])

  def merge(x, axis):
    return x.reshape(*x.shape[:axis], -1, *x.shape[axis + 2:])

  def run(*args):
    args = [a if ax is None else jax.tree.map(lambda x, ax=ax: split(x, ax), a)
            for a, ax in zip(args, batch_axes)]
    outs = mapped(*args)
    return tuple(o if ax is None else jax.tree.map(lambda x, ax=ax: merge(x, ax), o)
                 for o, ax in zip(outs, out_batch_axes))

  return run


def pmean(tree, axis_name: str | None):
  """`lax.pmean` over the device axis; the identity for a step run on one device (None)."""
  return tree if axis_name is None else jax.lax.pmean(tree, axis_name)


def example_keys(rng: jax.Array, local_batch: int, axis_name: str | None = AXIS) -> jax.Array:
  """One key per example of this device's share, from the example's global batch index.

  Randomness drawn per example with these keys (dropout masks, attack starts, latents) is
  the same however the global batch is split over devices. `axis_name=None`: one device.
  """
  first = jax.lax.axis_index(axis_name) * local_batch if axis_name else 0
  return jax.vmap(lambda i: jax.random.fold_in(rng, i))(first + jnp.arange(local_batch))


def global_batch(local_rows, sharding: NamedSharding, global_shape) -> jax.Array:
  """A global array from this process's rows of it (all of it on a single host)."""
  return jax.make_array_from_process_local_data(sharding, local_rows, global_shape)


def process_rows(sharding: NamedSharding, global_shape, axis: int) -> slice:
  """The contiguous range along `axis` that this process's devices hold."""
  ranges = [idx[axis] for idx in sharding.addressable_devices_indices_map(global_shape).values()]
  starts = [r.start or 0 for r in ranges]
  stops = [global_shape[axis] if r.stop is None else r.stop for r in ranges]
  return slice(min(starts), max(stops))


def initialize_distributed(coordinator_address: str | None, num_processes: int | None,
                           process_id: int | None, timeout_s: int = 300) -> None:
  """`jax.distributed.initialize`, with a clear error for settings that cannot work.

  With no arguments JAX detects the cluster itself (TPU pods, SLURM, Open MPI).
  """
  if num_processes is not None and process_id is not None and not (
      0 <= process_id < num_processes):
    raise UserError(f"process_id {process_id} must be in [0, {num_processes}) for "
                    f"num_processes={num_processes}.")
  if coordinator_address and num_processes is not None and process_id is not None:
    _check_processes(coordinator_address, num_processes, process_id, timeout_s)
  if jax.config.jax_platforms in ("cpu",) or (coordinator_address or "").startswith("127."):
    # CPU collectives across processes need gloo (localhost tests, CPU clusters).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address, num_processes, process_id,
                             initialization_timeout=timeout_s)


def _check_processes(coordinator_address: str, num_processes: int, process_id: int,
                     timeout_s: int) -> None:
  """Before JAX starts, every process reports (process_id, num_processes) to process 0 on the
  coordinator's port + 1. A missing, duplicate or mismatched process then gets one sentence
  on every process, instead of JAX's C++ client aborting them after its timeout."""
  host, port = coordinator_address.rsplit(":", 1)
  address = (host, int(port) + 1)
  deadline = time.monotonic() + timeout_s
  left = lambda: max(0.1, deadline - time.monotonic())
  advice = ("start every process with the same --coordinator_address and --num_processes "
            "and its own --process_id")
  if process_id != 0:
    reply = ""
    while not reply and time.monotonic() < deadline:
      try:
        with socket.create_connection(address, timeout=left()) as conn:
          conn.sendall(f"{process_id} {num_processes}".encode())
          conn.settimeout(left() + 5)
          reply = conn.recv(1024).decode()
      except OSError:  # Process 0 is not listening yet.
        time.sleep(0.2)
    if reply != "ok":
      raise UserError(reply or f"Process 0 at {coordinator_address} did not answer within "
                      f"{timeout_s} s; {advice}.")
    return
  joined, conns, problem = {0}, [], None
  with socket.create_server(("", address[1])) as server:
    while len(joined) < num_processes and problem is None:
      server.settimeout(left())
      try:
        conn, _ = server.accept()
      except socket.timeout:
        break
      conns.append(conn)
      pid, count = map(int, conn.recv(64).decode().split())
      if count != num_processes:
        problem = (f"process {pid} has --num_processes={count} and process 0 has "
                   f"{num_processes}")
      elif pid in joined:
        problem = f"two processes have --process_id={pid}"
      joined.add(pid)
    if problem is None and len(joined) < num_processes:
      problem = (f"only {len(joined)} of {num_processes} processes reached "
                 f"{coordinator_address} within {timeout_s} s")
    message = f"Processes do not match: {problem}; {advice}." if problem else "ok"
    for conn in conns:
      conn.sendall(message.encode())
      conn.close()
  if problem:
    raise UserError(message)
