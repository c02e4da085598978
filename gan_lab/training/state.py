"""The training state shared by every experiment, and the optimizer built from a config."""

from typing import Any

import optax
from flax.training import train_state

from gan_lab.errors import UserError


class TrainState(train_state.TrainState):
  """params, opt_state and step from Flax, plus BatchNorm statistics (empty when unused)."""
  batch_stats: Any = None

  def variables(self) -> dict:
    """The Linen variables for `apply_fn`: params, and batch_stats when the model has them."""
    if self.batch_stats:
      return {"params": self.params, "batch_stats": self.batch_stats}
    return {"params": self.params}


_OPTIMIZERS = {
    "adam": lambda lr, c: optax.adam(lr, b1=c.adam_b1),
    "rmsprop": lambda lr, c: optax.rmsprop(lr, decay=0.9, eps=1e-7),  # Keras' defaults.
    "sgd": lambda lr, c: optax.sgd(lr, momentum=c.momentum or None),
}


def make_optimizer(config, total_steps: int) -> optax.GradientTransformation:
  """`config.optimizer` (adam, rmsprop or sgd) at `config.learning_rate`, constant or cosine."""
  if config.optimizer not in _OPTIMIZERS:
    raise UserError(
        f"Unknown optimizer {config.optimizer!r}; choose one of {', '.join(_OPTIMIZERS)}.")
  if not config.learning_rate > 0:
    raise UserError(f"learning_rate must be positive; got {config.learning_rate}.")
  lr = config.learning_rate
  if config.lr_schedule == "cosine":
    lr = optax.cosine_decay_schedule(lr, decay_steps=max(1, total_steps))
  return _OPTIMIZERS[config.optimizer](lr, config)
