"""The fast gradient sign method (Goodfellow et al. 2015), untargeted and targeted."""

import jax.numpy as jnp

from gan_lab.attacks.base import (LogitsFn, NORMS, check_args, direction, input_gradient,
                                  labels_or_predictions)
from gan_lab.core.errors import UserError

def fgsm(logits_fn: LogitsFn, x, y=None, eps: float = 0.007, *, targeted: bool = False,
         norm: str = "linf", bounds=(0.0, 1.0)):
  """The fast gradient sign method (Goodfellow et al. 2015): x + eps * sign(grad).

  Untargeted: one step that increases the cross-entropy of the true labels `y` (the model's
  predictions when None). Targeted: `y` are the target labels and the step decreases their
  cross-entropy. `norm="l2"`: a step of L2 length eps along the gradient instead.
  """
  if norm not in NORMS:
    raise UserError(f"Unknown norm {norm!r}; choose one of {', '.join(NORMS)}.")
  check_args(x, eps, bounds, y, logits_fn)
  if targeted and y is None:
    raise UserError("A targeted attack needs the target labels y.")
  y = labels_or_predictions(logits_fn, x, y)
  step = eps * direction(input_gradient(logits_fn, x, y), norm)
  return jnp.clip(x - step if targeted else x + step, *bounds)
