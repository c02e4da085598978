"""The training state shared by every experiment, its training-mode forward pass, and the
optimizer built from a config."""

from typing import Any

import flax
import flax.linen as nn
import optax
from flax.training import train_state

from gan_lab import models
from gan_lab.core.errors import UserError

LR_SCHEDULES = ("constant", "cosine")


class TrainState(train_state.TrainState):
  """params, opt_state and step from Flax, plus the model and its BatchNorm statistics.

  `model` has no device axis (`apply_fn` is its `apply`), so a stored state restores and
  runs anywhere; a training step running under one sets it with `apply_train`.
  """
  model: nn.Module = flax.struct.field(pytree_node=False, default=None)
  batch_stats: Any = None

  @classmethod
  def of(cls, model: nn.Module, variables: dict, tx: optax.GradientTransformation):
    """The state of `model` with its initial `variables` and optimizer `tx`."""
    return cls.create(apply_fn=model.apply, model=model, params=variables["params"], tx=tx,
                      batch_stats=variables.get("batch_stats", {}))

  def variables(self) -> dict:
    """The Linen variables for `apply_fn`: params, and batch_stats when the model has them."""
    if self.batch_stats:
      return {"params": self.params, "batch_stats": self.batch_stats}
    return {"params": self.params}


def apply_train(state: TrainState, params, x, rng=None, axis_name: str | None = None):
  """The training-mode forward pass of `state.model` with `params` under device axis
  `axis_name`: (output, state with the new BatchNorm statistics). `rng` keys dropout."""
  out, updates = models.with_axis(state.model, axis_name).apply(
      state.replace(params=params).variables(), x, train=True,
      rngs={} if rng is None else {"dropout": rng}, mutable=["batch_stats"])
  return out, state.replace(batch_stats=updates.get("batch_stats", state.batch_stats))


_OPTIMIZERS = {
    "adam": lambda lr, c: optax.adam(lr, b1=c.adam_b1),
    "rmsprop": lambda lr, c: optax.rmsprop(lr, decay=0.9, eps=1e-7),  # Keras' defaults.
    "sgd": lambda lr, c: optax.sgd(lr, momentum=c.momentum or None),
}


def _field(config, path: str):
  for key in path.split("."):
    config = config[key]
  return config


def make_optimizer(config, total_steps: int, rate: str = "learning_rate",
                   schedule: str = "lr_schedule") -> optax.GradientTransformation:
  """`config.optimizer` (adam, rmsprop or sgd) at the learning rate in config field `rate`
  with the schedule in field `schedule` (constant, or cosine over `total_steps` updates)."""
  if config.optimizer not in _OPTIMIZERS:
    raise UserError(
        f"Unknown optimizer {config.optimizer!r}; choose one of {', '.join(_OPTIMIZERS)}.")
  lr, kind = _field(config, rate), _field(config, schedule)
  if not lr > 0:
    raise UserError(f"config.{rate} must be positive; got {lr}.")
  if kind not in LR_SCHEDULES:
    raise UserError(f"Unknown config.{schedule} {kind!r}; choose one of "
                    f"{', '.join(LR_SCHEDULES)}.")
  if kind == "cosine":
    lr = optax.cosine_decay_schedule(lr, decay_steps=max(1, total_steps))
  return _OPTIMIZERS[config.optimizer](lr, config)
