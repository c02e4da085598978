"""The registry of experiments: what `config.experiment` names.

An experiment is its state, its step and its evaluation; the loop in `loop.py` runs any of
them the same way (data, chunks of jitted steps, metrics, checkpoints).
"""

import dataclasses
from typing import Any, Callable

from gan_lab.errors import UserError
from gan_lab.training import classifier


@dataclasses.dataclass(frozen=True)
class Experiment:
  # (config, rng, total_steps) -> state: any pytree with a `step` counter.
  init_state: Callable[..., Any]
  # (state, batch, rng, *, axis_name=None) -> (state, metrics); metrics must include "loss".
  train_step: Callable[..., Any]
  # (state, batch with a 0/1 "mask") -> dict of sums over the batch.
  eval_step: Callable[..., Any]
  # dict of sums over the test split -> named test metrics.
  eval_metrics: Callable[[dict], dict]
  # (state, config, test arrays, workdir) -> paths of figures written at the end of a run.
  figures: Callable[..., list] = lambda *args: []


EXPERIMENTS = {
    "classifier": Experiment(
        init_state=classifier.init_state,
        train_step=classifier.train_step,
        eval_step=classifier.eval_step,
        eval_metrics=classifier.eval_metrics,
        figures=classifier.figures,
    ),
}


def get(name: str) -> Experiment:
  if name not in EXPERIMENTS:
    raise UserError(f"Unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}.")
  return EXPERIMENTS[name]
