"""The registry of experiments: what `config.experiment` names.

An experiment is its state, its step and its evaluation; the loop in `loop.py` runs any of
them the same way (data, chunks of jitted steps, metrics, checkpoints).
"""

import dataclasses
from typing import Any, Callable

from gan_lab.errors import UserError
from gan_lab.registry import Registry
from gan_lab.training import adversarial, classifier, gan, poisoned, vat


@dataclasses.dataclass(frozen=True)
class Experiment:
  # (config, rng, total_steps) -> state: any pytree with a `step` counter.
  init_state: Callable[..., Any]
  # config -> train_step(state, batch, rng, *, axis_name=None) -> (state, metrics), per
  # device, pmap style.
  make_train_step: Callable[..., Callable[..., Any]]
  # (config, mesh, test Batcher, test size, workdir) -> evaluate(state, step) -> named metrics.
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


# `config.experiment`: a name here, one added with `EXPERIMENTS.register`, or
# "package.module:attr" naming an Experiment of the user's own code (docs/extending.md).
EXPERIMENTS = Registry("experiment", {
    "classifier": Experiment(
        init_state=classifier.init_state,
        make_train_step=lambda config: classifier.train_step,
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
        make_train_step=lambda config: classifier.train_step,
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
        make_train_step=lambda config: gan.train_step,
        make_evaluate=gan.make_evaluate,
        figures=gan.figures,
        diagnose=gan.diagnose,
    ),
})


def get(name: str) -> Experiment:
  experiment = EXPERIMENTS.lookup(name)
  if not isinstance(experiment, Experiment):
    raise UserError(f"Experiment {name!r} is a {type(experiment).__name__}, not a "
                    "gan_lab.training.experiments.Experiment.")
  return experiment
