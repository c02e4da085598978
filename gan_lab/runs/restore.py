"""A run restored from its workdir alone: its config, its state, and the parts readers need.

The state restores onto this machine's devices whatever topology it was saved from, and it
carries no device axis, so it runs anywhere: for inference, evaluation and attacks. To train
further, re-run `experiments/train.py` on the workdir, which resumes with the run's full
optimizer schedule.
"""

import os

import jax
from absl import logging

from gan_lab import data, inference, parallel, sample_quality
from gan_lab.core.errors import UserError
from gan_lab.models import conv
from gan_lab.runs import checkpoint, workdirs
from gan_lab.training import classifier, gan


def _checked(workdir: str, step: int | None, missing: str):
  """(config, manager, steps) of the run in `workdir`, checking that `step` exists."""
  config = workdirs.load_config(workdir)
  if "conv" in config:
    config.conv = conv.for_restore(config.conv)
  mngr = (checkpoint.manager(workdir, create=False)
          if os.path.isdir(checkpoint.checkpoint_dir(workdir)) else None)
  steps = sorted(mngr.all_steps()) if mngr else []
  if not steps:
    raise UserError(f"{workdir} has no {missing}")
  if step is not None and step not in steps:
    raise UserError(f"{workdir} has no checkpoint at step {step}; it has steps {steps}.")
  return config, mngr, steps


def unfinished(workdir: str, config, step: int) -> str | None:
  """The sentence saying that the run in `workdir` stopped short of its config's num_steps
  at `step` (a run interrupted, or cut short by a crash), or None when it finished."""
  total = config.get("num_steps")
  if not total or step >= total:
    return None
  return (f"{os.path.abspath(workdir)} stopped at step {step} of {total}: what follows is for a "
          "model trained part of the way; re-run experiments/train.py on it to finish it.")


def _warn_if_unfinished(workdir: str, config, step: int) -> None:
  sentence = unfinished(workdir, config, step)
  if sentence:
    logging.warning("%s", sentence)


def _abstract(init_state, config):
  """The state `init_state` makes for `config`, as shapes replicated on this machine's devices."""
  sharding = parallel.replicated(parallel.make_mesh(jax.local_devices()))
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                      jax.eval_shape(lambda: init_state(config, jax.random.key(0), 1)))


def restore_state(workdir: str, init_state, step: int | None = None):
  """(config, state, step) of the run in `workdir`, whose state `init_state(config, rng,
  total_steps)` makes; the newest readable step by default."""
  config, mngr, _ = _checked(workdir, step, "checkpoint yet; train first or pick another "
                             "workdir.")
  template = _abstract(init_state, config)
  if step is None:
    state, step = checkpoint.restore_latest(mngr, template, workdir=workdir)
    _warn_if_unfinished(workdir, config, step)
  else:
    state = checkpoint.restore(mngr, step, template)
  return config, state, step


def restore_classifier(workdir: str, step: int | None = None, init_state=None):
  """(config, state, step) of a classifier run (any experiment with a `model`) whose state
  `init_state` makes (default: the classifier's; `runs.experiments.restore_classifier`
  passes the one its experiment registers)."""
  config = workdirs.load_config(workdir)
  if "model" not in config:
    raise UserError(f"{workdir} holds a {config.experiment!r} run, not a classifier; pass the "
                    "workdir of a classifier run (experiments/train.py with a classifier "
                    "config).")
  return restore_state(workdir, init_state or classifier.init_state, step)


GENERATOR_WEIGHTS = ("auto", "ema", "raw")


def restore_generator(workdir: str, step: int | None = None, weights: str = "auto"):
  """(config, generator TrainState with params and batch_stats only, step) of a GAN run.

  `weights`: "ema", the moving average of G's weights (gan.ema_decay > 0); "raw", G's own;
  "auto", the moving average where the run keeps one. Reads only those parameters and G's
  BatchNorm statistics from the checkpoint (an Orbax partial restore): the discriminator and
  optimizer states are never loaded.
  """
  kind = workdirs.load_config(workdir).experiment
  if kind != "gan":
    raise UserError(f"{workdir} holds a {kind!r} run, not a GAN; pass the workdir of a run "
                    "with experiment = 'gan'.")
  if weights not in GENERATOR_WEIGHTS:
    raise UserError(f"Unknown generator weights {weights!r}; choose one of "
                    f"{', '.join(GENERATOR_WEIGHTS)}.")
  config, mngr, steps = _checked(workdir, step, "generator checkpoint yet; train the GAN first.")
  if step is None:
    step = steps[-1]
    _warn_if_unfinished(workdir, config, step)
  state = _abstract(gan.init_state, config)
  if weights == "ema" and state.generator_ema is None:
    raise UserError(f"{workdir} keeps no moving average of its generator's weights "
                    "(gan.ema_decay = 0); sample with --weights=raw or auto.")
  g = state.generator
  wanted = {"generator": {"params": g.params, "batch_stats": g.batch_stats, "step": g.step}}
  if weights != "raw" and state.generator_ema is not None:
    wanted["generator_ema"] = state.generator_ema
  restored = checkpoint.restore_partial(mngr, step, wanted)
  g = g.replace(opt_state=None, **restored["generator"])
  variables = gan.generator_variables(g, restored.get("generator_ema"), state.ema_decay)
  return config, g.replace(params=variables["params"]), step


def judge(classifier_workdir: str, dataset: str, data_dir: str | None = None,
          restore_fn=restore_classifier) -> sample_quality.Judge:
  """A `sample_quality.Judge` of GAN samples from the classifier run in `classifier_workdir`
  (restored by `restore_fn`), with `dataset`'s test split as the reference.

  A dataset that stacks another's images as its channels (`DatasetInfo.channels_of`, e.g.
  Stacked MNIST) gets a `StackedJudge`, whose classifier is one of the stacked dataset.
  """
  ds_info = data.info(dataset)
  judged_on = ds_info.channels_of or dataset
  if not os.path.exists(os.path.join(classifier_workdir, workdirs.CONFIG_FILE)):
    raise UserError(f"gan.classifier_workdir {classifier_workdir} holds no run; train a "
                    f"classifier on {judged_on} there first (experiments/train.py with a "
                    "classifier config), or set gan.classifier_workdir=''.")
  config, state, _ = restore_fn(classifier_workdir)
  if config.dataset != judged_on and ds_info.channels_of:
    raise UserError(f"{dataset} needs a judge trained on {judged_on}, the images it stacks as "
                    f"its channels; the classifier in {classifier_workdir} was trained on "
                    f"{config.dataset}, so pass a classifier run on {judged_on} as "
                    "gan.classifier_workdir.")
  if config.dataset != judged_on:
    raise UserError(f"The classifier in {classifier_workdir} was trained on "
                    f"{config.dataset}, not on {dataset}; train one on {dataset} to judge "
                    "this GAN's samples.")
  fn, reference = inference.logits_and_features(state), data.load(dataset, "test", data_dir)
  if ds_info.channels_of:
    return sample_quality.StackedJudge(fn, reference, data.info(judged_on).num_classes)
  return sample_quality.Judge(fn, reference, ds_info.num_classes)
