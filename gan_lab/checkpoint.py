"""Orbax checkpoints of the training state in `<workdir>/checkpoints`.

Every experiment checkpoints one pytree, its state, as the item "state" (StandardSave);
readers that need part of it (a GAN's generator) restore just that part.
"""

import os
import shutil

import jax
import orbax.checkpoint as ocp
from absl import logging

from gan_lab import parallel
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


def restore_latest(mngr: ocp.CheckpointManager, template, *, workdir: str | None = None,
                   set_aside: bool = False):
  """(state, step) from the newest step that restores as `template`; (None, None) if none.

  Newer steps that fail while an older one restores are damaged: each is reported with a
  warning and, with `set_aside` (a run that goes on training and will save those steps
  again), moved to `<workdir>/corrupt_checkpoints/`, never deleted. When steps exist but
  none restores, the checkpoints do not fit this state (another model or code), so this
  raises and moves nothing.
  """
  failed = []
  for step in sorted(mngr.all_steps(), reverse=True):
    try:
      state = _restore(mngr, step, template)
    except Exception as e:  # pylint: disable=broad-except
      # Orbax reports a damaged step with many exception types (JSON, tensorstore, I/O).
      failed.append((step, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"))
      continue
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


def _set_aside(workdir: str, step: int) -> str:
  aside = os.path.join(os.path.abspath(workdir), "corrupt_checkpoints", str(step))
  suffix = 1
  while os.path.exists(aside):
    aside = os.path.join(os.path.dirname(aside), f"{step}.{suffix}")
    suffix += 1
  os.makedirs(os.path.dirname(aside), exist_ok=True)
  shutil.move(os.path.join(checkpoint_dir(workdir), str(step)), aside)
  return aside


def _run_checkpoints(workdir: str, step: int | None, missing: str):
  """(config, manager, steps) of the run in `workdir`, checking that `step` exists."""
  from gan_lab import workdirs  # pylint: disable=g-import-not-at-top
  config = workdirs.load_config(workdir)
  mngr = manager(workdir, create=False) if os.path.isdir(checkpoint_dir(workdir)) else None
  steps = sorted(mngr.all_steps()) if mngr else []
  if not steps:
    raise UserError(f"{workdir} has no {missing}")
  if step is not None and step not in steps:
    raise UserError(f"{workdir} has no checkpoint at step {step}; it has steps {steps}.")
  return config, mngr, steps


def _abstract_state(config):
  """The run's state as shapes, replicated on this machine's devices, whatever topology
  the run was saved from."""
  from gan_lab.training import experiments  # pylint: disable=g-import-not-at-top
  sharding = parallel.replicated(parallel.make_mesh(jax.local_devices()))
  experiment = experiments.get(config.experiment)
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                      jax.eval_shape(lambda: experiment.init_state(config, jax.random.key(0), 1)))


def restore_from_workdir(workdir: str, step: int | None = None):
  """(config, state, step) of a run, from its workdir alone (the config is read from it).

  The state is for inference and evaluation; to train further, re-run `experiments/train.py`
  on the workdir, which resumes with the run's full optimizer schedule.
  """
  config, mngr, _ = _run_checkpoints(workdir, step,
                                     "checkpoint yet; train first or pick another workdir.")
  template = _abstract_state(config)
  if step is None:
    state, step = restore_latest(mngr, template, workdir=workdir)
  else:
    state = _restore(mngr, step, template)
  return config, state, step


def restore_generator(workdir: str, step: int | None = None):
  """(config, generator TrainState with params and batch_stats only, step) of a GAN run.

  Reads only the generator's parameters and BatchNorm statistics from the checkpoint
  (an Orbax partial restore): the discriminator and optimizer states are never loaded.
  """
  from gan_lab import workdirs  # pylint: disable=g-import-not-at-top
  kind = workdirs.load_config(workdir).experiment
  if kind != "gan":
    raise UserError(f"{workdir} holds a {kind!r} run, not a GAN; pass the workdir of a run "
                    "with experiment = 'gan'.")
  config, mngr, steps = _run_checkpoints(workdir, step,
                                         "generator checkpoint yet; train the GAN first.")
  step = steps[-1] if step is None else step
  generator = _abstract_state(config).generator
  wanted = {"generator": {"params": generator.params, "batch_stats": generator.batch_stats}}
  restored = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.PyTreeRestore(
      item=wanted, restore_args=ocp.checkpoint_utils.construct_restore_args(wanted),
      partial_restore=True))).state["generator"]
  generator = generator.replace(params=restored["params"], batch_stats=restored["batch_stats"],
                                opt_state=None, step=step)
  return config, generator, step
