"""TRADES' inner maximisation (Zhang et al. 2019): the point of the eps-ball whose prediction
is farthest, in KL, from the clean one."""

import jax
import jax.numpy as jnp

from gan_lab.attacks.base import LogitsFn, check_args, example_keys
from gan_lab.attacks.pgd import sign_ascent
from gan_lab.attacks.vat_perturbation import kl_from_logits
from gan_lab.core.errors import UserError

START_SCALE = 0.001  # The reference's start: x + 0.001 * N(0, 1).


def trades_perturbation(logits_fn: LogitsFn, x, eps: float, rng, *,
                        step_size: float | None = None, num_steps: int = 10,
                        clean_logits=None, bounds=(0.0, 1.0), axis_name: str | None = None):
  """x_adv maximising KL(p(y|x) || p(y|x_adv)) over the L-inf eps-ball around x and `bounds`.

  As yaodongyu/TRADES: from x + 0.001 * N(0, 1), drawn per example (`rng`: a key, through
  `parallel.example_keys` so the start does not depend on the device split, or one key per
  example), `num_steps` sign steps of `step_size` (default 2.5 * eps / num_steps, as `pgd`),
  each projected onto the ball and into `bounds`. Unlike the reference, the start is
  projected too, so the model only ever sees images in `bounds`. No labels are used; the
  clean prediction (`clean_logits`, or logits_fn(x)) is a constant. Run `logits_fn` in
  inference mode. The result is a constant (stop-gradient).
  """
  check_args(x, eps, bounds)
  if isinstance(num_steps, int) and num_steps < 1:
    raise UserError(f"num_steps must be >= 1; got {num_steps}.")
  clean = jax.lax.stop_gradient(logits_fn(x) if clean_logits is None else clean_logits)
  keys = example_keys(rng, x.shape[0], axis_name)
  noise = jax.vmap(lambda k: jax.random.normal(k, x.shape[1:], x.dtype))(keys)
  # Summed, not averaged: a sign step ignores the scale, and each example keeps its own.
  loss = lambda logits: jnp.sum(kl_from_logits(clean, logits))
  x_adv = sign_ascent(logits_fn, loss, x, x + START_SCALE * noise, eps, step_size=step_size,
                      num_steps=num_steps, bounds=bounds)
  return jax.lax.stop_gradient(x_adv)
