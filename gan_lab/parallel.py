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

import errno
import ipaddress
import selectors
import socket
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gan_lab.core.errors import UserError

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
  coordinator's port + 1. A missing, duplicate, mismatched or silent process then gets one
  sentence on every process, instead of JAX's C++ client aborting them after its timeout.

  Every socket operation is bounded by the deadline, timeout_s from now; a process other
  than 0 waits _REPLY_GRACE_S longer for the answer.
  """
  host, port = _split_address(coordinator_address)
  address, checkin = (host, port + 1), _join_address(host, port + 1)
  deadline = time.monotonic() + timeout_s
  left = lambda: max(0.0, deadline - time.monotonic())
  advice = ("start every process with the same --coordinator_address and --num_processes "
            "and its own --process_id")
  if process_id != 0:
    raw = b""
    while time.monotonic() < deadline:
      try:
        with socket.create_connection(address, timeout=max(0.1, left())) as conn:
          conn.settimeout(max(0.1, left()))
          conn.sendall(f"{process_id} {num_processes}".encode())
          raw = _read_reply(conn, deadline + _REPLY_GRACE_S)
      except OSError:  # Process 0 is not listening yet, or closed this connection.
        raw = b""
      if raw:
        break
      time.sleep(min(0.2, left()))
    reply = raw.decode(errors="replace").strip()
    if not reply:
      raise UserError(f"Process 0 at {coordinator_address} did not answer within "
                      f"{timeout_s} s; {advice}.")
    if reply == "ok":
      return
    if not reply.startswith(_MISMATCH):  # Not process 0 of this run.
      raise UserError(f"The check-in port {checkin} answered {_shorten(raw)} instead of "
                      f"process 0 of this run; keep port {port + 1} free for the check-in or "
                      f"choose another --coordinator_address port.")
    raise UserError(reply)
  joined, conns, silent, problem = {0}, [], set(), None
  with _listen(host, port + 1) as server, selectors.DefaultSelector() as selector:
    # Non-blocking: a peer that connects and sends nothing cannot hold up the others.
    server.setblocking(False)
    selector.register(server, selectors.EVENT_READ)
    while len(joined) < num_processes and problem is None and left() > 0:
      for key, _ in selector.select(timeout=left()):
        if problem is not None:
          break
        if key.fileobj is server:
          if (conn := _accept(server)) is not None:
            conns.append(conn)
            silent.add(conn)
            selector.register(conn, selectors.EVENT_READ)
          continue
        conn = key.fileobj
        selector.unregister(conn)
        silent.discard(conn)
        try:
          data = conn.recv(64)
        except OSError:  # Reset by the peer.
          data = b""
        if (report := _parse_report(data)) is None:
          problem = (f"a connection to {checkin} closed without sending its process_id and "
                     f"num_processes" if not data else
                     f"a connection to {checkin} sent {_shorten(data)} instead of its "
                     f"process_id and num_processes (another program may use port {port + 1})")
          continue
        pid, count = report
        if count != num_processes:
          problem = (f"process {pid} has --num_processes={count} and process 0 has "
                     f"{num_processes}")
        elif pid in joined:
          problem = f"two processes have --process_id={pid}"
        elif not 0 <= pid < num_processes:
          problem = (f"a process has --process_id={pid}, which is not in "
                     f"[0, {num_processes})")
        joined.add(pid)
    if problem is None and len(joined) < num_processes:
      problem = (f"only {len(joined)} of {num_processes} processes reached "
                 f"{coordinator_address} within {timeout_s} s")
      if silent:
        missing = sorted(set(range(num_processes)) - joined)
        problem += (f", {_processes(missing)} never reported and "
                    f"{len(silent)} connection{'s' * (len(silent) > 1)} to {checkin} sent "
                    f"nothing")
    message = f"{_MISMATCH}{problem}; {advice}." if problem else "ok"
    # Processes still in the listen queue get the answer too, rather than a reset.
    for _ in range(num_processes):
      if (conn := _accept(server)) is None:
        break
      conns.append(conn)
    for conn in conns:
      _answer(conn, message, max(0.1, left()))
  if problem:
    raise UserError(message)


_MISMATCH = "Processes do not match: "
# Process 0 answers at its own deadline when a process is missing; the others wait this
# much past theirs for that answer, since process 0 may have started a little later.
_REPLY_GRACE_S = 2.0


def _split_address(coordinator_address: str) -> tuple[str, int]:
  """(host, port) of "host:port" or "[ipv6]:port"."""
  host, _, port = coordinator_address.rpartition(":")
  if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65535:
    raise UserError(f"--coordinator_address={coordinator_address} is not HOST:PORT with a "
                    f"port below 65535; give process 0's host and a free port, e.g. "
                    f"10.0.0.1:1234.")
  return host.strip("[]"), int(port)


def _join_address(host: str, port: int) -> str:
  return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _listen(host: str, port: int) -> socket.socket:
  """Process 0's check-in socket, bound to the coordinator's host rather than to every
  interface of the machine."""
  try:
    family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
  except socket.gaierror as e:
    raise UserError(f"Process 0 cannot resolve the coordinator host {host} ({e.strerror}); "
                    f"give its name or address in --coordinator_address.") from e
  try:
    is_ip = bool(ipaddress.ip_address(host))
  except ValueError:
    is_ip = False
  # A name of this machine that resolves to loopback here (Debian maps its hostname to
  # 127.0.1.1) names its real address on the other machines: listen on all interfaces.
  if not is_ip and host != "localhost" and ipaddress.ip_address(sockaddr[0]).is_loopback:
    sockaddr = ("", port)
  try:
    return socket.create_server(sockaddr, family=family)
  except OSError as e:
    if e.errno == errno.EADDRNOTAVAIL:  # Not an address of this machine (NAT, a proxy).
      return socket.create_server(("", port), family=family)
    if e.errno == errno.EADDRINUSE:
      raise UserError(f"Port {port} on {host}, which the process check-in uses, is taken; "
                      f"choose a --coordinator_address port whose next port is free.") from e
    raise


def _accept(server: socket.socket) -> socket.socket | None:
  """A connection from the listen queue of non-blocking `server`, or None if it is empty."""
  try:
    conn, _ = server.accept()
  except OSError:  # BlockingIOError included.
    return None
  conn.setblocking(False)
  return conn


def _parse_report(data: bytes) -> tuple[int, int] | None:
  """(process_id, num_processes) from b"<process_id> <num_processes>", or None."""
  try:
    pid, count = map(int, data.decode().split())
  except ValueError:  # UnicodeDecodeError included.
    return None
  return pid, count


def _answer(conn: socket.socket, message: str, timeout_s: float) -> None:
  """Sends `message` and closes `conn`, whatever the peer has done to it."""
  try:
    conn.settimeout(timeout_s)
    conn.sendall(message.encode())
    conn.shutdown(socket.SHUT_WR)
    # Unread input would make close() reset the connection, and the peer could lose the
    # answer; read what has arrived.
    conn.setblocking(False)
    while conn.recv(4096):
      pass
  except OSError:  # Nothing more to read, or the peer is gone.
    pass
  finally:
    conn.close()


def _read_reply(conn: socket.socket, until: float) -> bytes:
  """Process 0's answer: all it sends before closing `conn`, or before time `until`."""
  chunks = []
  while time.monotonic() < until and sum(map(len, chunks)) < 4096:
    conn.settimeout(max(0.01, until - time.monotonic()))
    try:
      chunk = conn.recv(4096)
    except TimeoutError:
      break
    if not chunk:
      break
    chunks.append(chunk)
  return b"".join(chunks)


def _shorten(data: bytes) -> str:
  """`data` as a Python literal, cut after 32 bytes: it goes into a one-line message."""
  return repr(data[:32]) + ("..." if len(data) > 32 else "")


def _processes(pids: list[int]) -> str:
  """"process 1", "processes 1 and 2", "processes 1, 2, 3, 4, 5 and 7 more"."""
  if len(pids) == 1:
    return f"process {pids[0]}"
  shown = ", ".join(map(str, pids[:5]))
  rest = f"{len(pids) - 5} more" if len(pids) > 6 else ", ".join(map(str, pids[5:]))
  if not rest:
    head, last = shown.rsplit(", ", 1)
    return f"processes {head} and {last}"
  return f"processes {shown} and {rest}"
