"""The registry of experiments: what `config.experiment` names.

An experiment is its state, its step and its evaluation (all in `gan_lab.training`); the
loop in `loop.py` runs any of them the same way (data, chunks of jitted steps, metrics,
checkpoints). Every field takes the config the same way: `make_train_step(config)` returns
the step, `make_evaluate(config, ...)` the evaluation.
"""

import dataclasses
from typing import Any, Callable

from gan_lab.core.registry import Registry
from gan_lab.runs import restore, workdirs
from gan_lab.training import adversarial, classifier, gan, poisoned, vat


@dataclasses.dataclass(frozen=True)
class Experiment:
  # (config, rng, total_steps) -> state: any pytree with a `step` counter, and no device
  # axis in it (the step gets that as `axis_name`).
  init_state: Callable[..., Any]
  # config -> train_step(state, batch, rng, *, axis_name=None) -> (state, metrics), per
  # device, pmap style.
  make_train_step: Callable[..., Callable[..., Any]]
  # (config, mesh, test Batcher, test size, workdir) -> evaluate(state, step) -> named
  # metrics; the loop logs them as test_<name> (and the step's as train_<name>). A value of
  # shape [N, H, W, C] (images in [0, 1]) goes to TensorBoard as an image grid instead.
  make_evaluate: Callable[..., Callable[..., dict]]
  # (state, config, test arrays, workdir) -> paths of figures written at the end of a run.
  figures: Callable[..., list] = lambda *args: []
  # (config, history of logged metrics, oldest first) -> warning sentences, after each eval.
  diagnose: Callable[..., list] = lambda config, history: []
  # (config, train arrays, test arrays) -> (train, test) as the experiment trains and
  # evaluates on them; runs before anything is written, so it may raise UserError.
  prepare_data: Callable[..., Any] = lambda config, train, test: (train, test)
  # (config, workdir, train arrays, test arrays as loaded, before prepare_data) -> None: files
  # a run keeps beside its checkpoints, written by process 0 once the workdir is checked
  # (e.g. which examples were labelled).
  write_run_files: Callable[..., None] = lambda config, workdir, train, test: None


def _gan_evaluate(config, mesh, test_batches, n: int, workdir: str):
  """The GAN's evaluation, judged by the classifier run of `gan.classifier_workdir` if set."""
  del mesh, test_batches, n
  judged_by = None
  if config.gan.classifier_workdir:
    judged_by = judge(config.gan.classifier_workdir, config.dataset, config.data_dir or None)
  return gan.make_evaluate(config, workdir, judged_by)


# `config.experiment`: a name here, one added with `EXPERIMENTS.register`, or
# "package.module:attr" naming an Experiment of the user's own code (docs/extending.md).
EXPERIMENTS = Registry("experiment", {
    "classifier": Experiment(
        init_state=classifier.init_state,
        make_train_step=classifier.make_train_step,
        make_evaluate=classifier.make_evaluate,
        figures=classifier.figures,
    ),
    "adversarial": Experiment(
        init_state=adversarial.init_state,
        make_train_step=adversarial.make_train_step,
        make_evaluate=adversarial.make_evaluate,
        figures=classifier.figures,
    ),
    "poisoned": Experiment(
        init_state=classifier.init_state,
        make_train_step=classifier.make_train_step,
        make_evaluate=poisoned.make_evaluate,
        figures=classifier.figures,
        prepare_data=poisoned.prepare_data,
    ),
    "vat": Experiment(
        init_state=vat.init_state,
        make_train_step=vat.make_train_step,
        make_evaluate=classifier.make_evaluate,
        figures=classifier.figures,
        prepare_data=vat.prepare_data,
        write_run_files=vat.write_run_files,
    ),
    "gan": Experiment(
        init_state=gan.init_state,
        make_train_step=gan.make_train_step,
        make_evaluate=_gan_evaluate,
        figures=gan.figures,
        diagnose=gan.diagnose,
    ),
})


def get(name: str) -> Experiment:
  return EXPERIMENTS.lookup(name, Experiment)


def restore_run(workdir: str, step: int | None = None):
  """(config, state, step) of any experiment's run, from its workdir alone (the newest
  readable step by default)."""
  kind = workdirs.load_config(workdir).experiment
  return restore.restore_state(workdir, get(kind).init_state, step)


def restore_classifier(workdir: str, step: int | None = None):
  """(config, state, step) of a classifier run (any experiment with a `model`), its state
  made by the init_state its experiment registers."""
  kind = workdirs.load_config(workdir).experiment
  return restore.restore_classifier(workdir, step, get(kind).init_state)


def judge(classifier_workdir: str, dataset: str, data_dir: str | None = None):
  """`restore.judge` with the classifier restored as its experiment registers it."""
  return restore.judge(classifier_workdir, dataset, data_dir, restore_classifier)
