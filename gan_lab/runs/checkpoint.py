"""Orbax checkpoints of a training state in `<workdir>/checkpoints`; they know no experiment.

Every experiment checkpoints one pytree, its state, as the item "state" (StandardSave);
readers that need part of it (a GAN's generator) restore just that part
(`gan_lab.runs.restore`).
"""

import errno
import logging as std_logging
import os
import shutil
import sys
import traceback

import jax
import orbax.checkpoint as ocp
from absl import logging

from gan_lab.core.errors import UserError

# OSErrors that say the storage is unreachable now, not that a step is damaged.
_TRANSIENT_ERRNOS = frozenset({errno.EIO, errno.EAGAIN, errno.EBUSY, errno.ETIMEDOUT,
                               errno.ENETDOWN, errno.ENETUNREACH, errno.ECONNRESET,
                               errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ESTALE,
                               errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS})
# The same in tensorstore's status messages, which Orbax passes on as ValueError.
_TRANSIENT_STATUS = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED",
                     "PERMISSION_DENIED")


class TransientReadError(UserError):
  """A checkpoint could not be read because of the storage, not the checkpoint."""


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), "checkpoints")


def manager(workdir: str, keep: int = 3, create: bool = True) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      checkpoint_dir(workdir),
      options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=create))


def steps(workdir: str) -> list[int]:
  """The steps checkpointed in `workdir`, oldest first ([] when there are none)."""
  if not os.path.isdir(checkpoint_dir(workdir)):
    return []
  return sorted(manager(workdir, create=False).all_steps())


def save(mngr: ocp.CheckpointManager, step: int, state) -> None:
  """Saves asynchronously; orbax commits a step atomically, so a killed save leaves no step."""
  mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state)))


def restore(mngr: ocp.CheckpointManager, step: int, template):
  """The state saved at `step`, shaped (and placed) as `template`."""
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
  return mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract))).state


def restore_partial(mngr: ocp.CheckpointManager, step: int, wanted):
  """Only the subtree `wanted` (shapes) of the state saved at `step` (an Orbax partial restore)."""
  return mngr.restore(step, args=ocp.args.Composite(state=ocp.args.PyTreeRestore(
      item=wanted, restore_args=ocp.checkpoint_utils.construct_restore_args(wanted),
      partial_restore=True))).state


def _first_line(error: BaseException) -> str:
  """`error` as one short line (some, e.g. asyncio's TimeoutError, have no message), without
  the tensorstore spec that Orbax appends to a failed read."""
  text = str(error).split(" See full TensorStore details")[0]
  return f"{type(error).__name__}: {(text.splitlines() or [''])[0][:200]}"


def _transient(error: BaseException) -> bool:
  """Whether `error` (or what caused it) is the storage failing rather than a damaged step."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, (TimeoutError, ConnectionError)):
      return True
    if isinstance(error, OSError) and error.errno in _TRANSIENT_ERRNOS:
      return True
    if any(status in str(error) for status in _TRANSIENT_STATUS):
      return True
    error = error.__cause__ or error.__context__
  return False


def restore_latest(mngr: ocp.CheckpointManager, template, *, workdir: str | None = None,
                   set_aside: bool = False):
  """(state, step) from the newest step that restores as `template`; (None, None) if none.

  Newer steps that fail while an older one restores are damaged: each is reported with a
  warning and, with `set_aside` (a run that goes on training and will save those steps
  again), moved to `<workdir>/corrupt_checkpoints/`, never deleted. When steps exist but
  none restores, the checkpoints do not fit this state (another model or code), so this
  raises and moves nothing. A failure of the storage itself (an I/O error, a timeout, a
  denied permission) is not damage: it raises `TransientReadError` and moves nothing.
  """
  failed = []
  _echoes.install()
  for step in sorted(mngr.all_steps(), reverse=True):
    try:
      _echoes.restoring = True
      state = restore(mngr, step, template)
    except Exception as e:  # pylint: disable=broad-except
      # Orbax reports a damaged step with many exception types (JSON, tensorstore, I/O).
      if _transient(e):
        raise TransientReadError(
            f"Cannot read the checkpoint at step {step} in {checkpoint_dir(workdir or '.')} "
            f"({_first_line(e)}); that is the storage, not "
            "the checkpoint, so nothing was moved: re-run when it is reachable.") from e
      _echoes.failed = True
      failed.append((step, _first_line(e)))
      continue
    finally:
      _echoes.restoring = False
    for bad, error in failed:
      message = f"Checkpoint at step {bad} is unreadable ({error})"
      if set_aside:
        message += f"; moved it to {_set_aside(workdir, bad)}"
      logging.warning("%s; falling back to step %d.", message, step)
    if set_aside and failed:
      mngr.reload()
    return state, step
  if failed:
    raise UserError(
        f"No checkpoint in {checkpoint_dir(workdir or '.')} restores into this config's state "
        f"(step {failed[0][0]}: {failed[0][1]}); was it written by other code? Nothing was moved.")
  return None, None


def _from_orbax(error: BaseException) -> bool:
  return any("/orbax/" in frame.filename for frame in traceback.extract_tb(error.__traceback__))


def _is_read_echo(error: BaseException | None, obj=None) -> bool:
  """Whether `error` is an echo of a failed read, not news: the read's other coroutines
  (collected later), and tensorstore's callbacks into the event loop Orbax has closed."""
  if error is None:
    return False
  if isinstance(error, RuntimeError) and str(error) == "Event loop is closed":
    return True
  code = getattr(obj, "cr_code", None)
  return _from_orbax(error) or (code is not None and "/orbax/" in code.co_filename)


class _ReadEchoes(std_logging.Filter):
  """When a read of a damaged step fails, Orbax's other reads of it fail too, asynchronously,
  during the restore and long after: Python would print each (dozens of tracebacks, some
  after the run goes on). The warning already says what failed, so while restoring, and for
  good once a read has failed, these echoes go to the debug log only. Any other unraisable
  exception or asyncio error prints as before."""

  def __init__(self):
    super().__init__()
    self.installed = self.restoring = self.failed = False

  def install(self) -> None:
    if self.installed:
      return
    self.installed = True
    previous = sys.unraisablehook

    def hook(unraisable):
      if self.hides(unraisable.exc_value, unraisable.object):
        logging.debug("A failed checkpoint read's echo: %s", _first_line(unraisable.exc_value))
      else:
        previous(unraisable)

    sys.unraisablehook = hook
    std_logging.getLogger("asyncio").addFilter(self)

  def hides(self, error, obj=None) -> bool:
    return (self.restoring or self.failed) and _is_read_echo(error, obj)

  def filter(self, record):  # asyncio logs "... exception was never retrieved" with exc_info.
    return not (record.exc_info and self.hides(record.exc_info[1]))


_echoes = _ReadEchoes()


def _set_aside(workdir: str, step: int) -> str:
  aside = os.path.join(os.path.abspath(workdir), "corrupt_checkpoints", str(step))
  suffix = 1
  while os.path.exists(aside):
    aside = os.path.join(os.path.dirname(aside), f"{step}.{suffix}")
    suffix += 1
  os.makedirs(os.path.dirname(aside), exist_ok=True)
  shutil.move(os.path.join(checkpoint_dir(workdir), str(step)), aside)
  return aside
