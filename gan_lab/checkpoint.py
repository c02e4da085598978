"""Orbax checkpoints of the training state in `<workdir>/checkpoints`.

Every experiment checkpoints one pytree, its state, as the item "state" (StandardSave);
readers that need part of it (a GAN's generator) restore just that part.
"""

import os
import shutil

import jax
import orbax.checkpoint as ocp
from absl import logging

from gan_lab.errors import UserError


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), "checkpoints")


def manager(workdir: str, keep: int = 3, create: bool = True) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      checkpoint_dir(workdir),
      options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=create))


def save(mngr: ocp.CheckpointManager, step: int, state) -> None:
  """Saves asynchronously; orbax commits a step atomically, so a killed save leaves no step."""
  mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state)))


def _restore(mngr: ocp.CheckpointManager, step: int, template):
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
  return mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract))).state


def restore_latest(mngr: ocp.CheckpointManager, template, *, quarantine_in: str | None = None):
  """(state, step) from the newest readable step, shaped like `template`; (None, None) if none.

  An unreadable step is skipped with a warning. With `quarantine_in` (a workdir whose run
  goes on training) it is moved to `<workdir>/corrupt_checkpoints/`, never deleted, so
  that the resumed run can save that step number again.
  """
  for step in sorted(mngr.all_steps(), reverse=True):
    try:
      return _restore(mngr, step, template), step
    except Exception as e:  # pylint: disable=broad-except
      # Orbax reports a damaged step with many exception types (JSON, tensorstore, I/O).
      message = f"Checkpoint at step {step} is unreadable ({type(e).__name__}: {e})"
      if quarantine_in:
        aside = os.path.join(os.path.abspath(quarantine_in), "corrupt_checkpoints", str(step))
        os.makedirs(os.path.dirname(aside), exist_ok=True)
        shutil.move(os.path.join(checkpoint_dir(quarantine_in), str(step)), aside)
        mngr.reload()
        message += f"; moved it to {aside}"
      logging.warning("%s; falling back to the previous checkpoint.", message)
  return None, None


def restore_from_workdir(workdir: str, step: int | None = None):
  """(config, state, step) of a run, from its workdir alone (the config is read from it).

  The state is for inference and evaluation; to train further, re-run `experiments/train.py`
  on the workdir, which resumes with the run's full optimizer schedule.
  """
  from gan_lab import workdirs  # pylint: disable=g-import-not-at-top
  from gan_lab.training import experiments  # pylint: disable=g-import-not-at-top
  config = workdirs.load_config(workdir)
  experiment = experiments.get(config.experiment)
  template = jax.eval_shape(lambda: experiment.init_state(config, jax.random.key(0), 1))
  mngr = manager(workdir, create=False) if os.path.isdir(checkpoint_dir(workdir)) else None
  steps = list(mngr.all_steps()) if mngr else []
  if not steps:
    raise UserError(f"{workdir} has no checkpoint yet; train first or pick another workdir.")
  if step is None:
    state, step = restore_latest(mngr, template)
    if state is None:
      raise UserError(f"No checkpoint in {workdir} is readable; train again in a new workdir.")
  elif step not in steps:
    raise UserError(f"{workdir} has no checkpoint at step {step}; it has steps {steps}.")
  else:
    state = _restore(mngr, step, template)
  return config, state, step
