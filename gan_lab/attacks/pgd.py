"""Projected gradient descent (Madry et al. 2018) in L-inf, and BIM without a random start."""

import jax
import jax.numpy as jnp
import optax

from gan_lab.attacks.base import (LogitsFn, check_args, example_keys, fori_loop,
                                  labels_or_predictions)
from gan_lab.core.errors import UserError

def pgd(logits_fn: LogitsFn, x, y=None, eps: float = 0.03, *, step_size: float | None = None,
        num_steps: int = 10, rng=None, targeted: bool = False, bounds=(0.0, 1.0),
        axis_name: str | None = None):
  """L-inf projected gradient descent (Madry et al. 2018); iterative FGSM (BIM) without `rng`.

  With `rng` (a key, or one key per example), starts from a uniform random point in the
  eps-ball, drawn per example: a single key goes through `parallel.example_keys`, so the
  start is the same however the batch is split over devices (`axis_name`: the device axis
  inside a pmap-style step). Each of `num_steps` steps moves
  `step_size` (default 2.5 * eps / num_steps) along the gradient's sign, then projects back
  onto the eps-ball around `x` and into `bounds`, so every iterate stays in both.
  `num_steps` is a Python int: the steps are one `lax.fori_loop`, unrolled.
  """
  check_args(x, eps, bounds, y, logits_fn)
  if isinstance(num_steps, int) and num_steps < 1:
    raise UserError(f"num_steps must be >= 1; got {num_steps}.")
  if targeted and y is None:
    raise UserError("A targeted attack needs the target labels y.")
  y = labels_or_predictions(logits_fn, x, y)
  start = x
  if rng is not None:
    keys = example_keys(rng, x.shape[0], axis_name)
    noise = jax.vmap(lambda k: jax.random.uniform(k, x.shape[1:], x.dtype, -1.0, 1.0))(keys)
    start = x + eps * noise
  sign = -1.0 if targeted else 1.0
  loss = lambda logits: sign * optax.softmax_cross_entropy_with_integer_labels(logits, y).sum()
  return sign_ascent(logits_fn, loss, x, start, eps, step_size=step_size, num_steps=num_steps,
                     bounds=bounds)


def sign_ascent(logits_fn: LogitsFn, loss, x, start, eps: float, *,
                step_size: float | None = None, num_steps: int = 10, bounds=(0.0, 1.0)):
  """PGD's iterations for any `loss(logits) -> scalar`: from `start`, `num_steps` steps of
  `step_size` (default 2.5 * eps / num_steps) along the sign of d loss(logits_fn(x_adv)) /
  d x_adv, each projected onto the L-inf eps-ball around `x` and into `bounds` (the start
  too). A loss summed over the batch keeps each example's steps its own.
  """
  step_size = 2.5 * eps / num_steps if step_size is None else step_size
  low, high = jnp.maximum(x - eps, bounds[0]), jnp.minimum(x + eps, bounds[1])
  grad = jax.grad(lambda x_adv: loss(logits_fn(x_adv)))

  def body(_, x_adv):
    return jnp.clip(x_adv + step_size * jnp.sign(grad(x_adv)), low, high)

  return fori_loop(num_steps, body, jnp.clip(start, low, high))
