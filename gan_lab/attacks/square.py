"""Square Attack (Andriushchenko et al. 2020): a score-based black-box attack.

It sees only the model's outputs, never a gradient: random square patches of +-eps (L-inf)
are tried one at a time and kept when they lower the margin z_y - max_{i != y} z_i. As
max-andr/square-attack and fra31/auto-attack's `SquareAttack` (p_init 0.8, its schedule of
square sizes over the queries, vertical stripes to start), with the square's place and signs
drawn per example from the example's own key, so a result does not depend on the batch.
"""

import jax
import jax.numpy as jnp

from gan_lab.attacks.base import (LogitsFn, check_args, check_norm, example_keys,
                                  labels_or_predictions, project, where_example)
from gan_lab.core.errors import UserError

# (queries up to which, share of p_init): fra31/auto-attack's p_selection, not rescaled.
_SCHEDULE = ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64),
             (6000, 128), (8000, 256))


def square_fraction(i, p_init: float):
  """The share p of the image a square covers at query `i`: p_init halves along the way."""
  divisor = jnp.full_like(i, 512)
  for last, d in reversed(_SCHEDULE):
    divisor = jnp.where(i <= last, d, divisor)
  return p_init / divisor


def margin(logits, y):
  """z_y - max_{i != y} z_i per example: negative once the example is misclassified."""
  z_y = jnp.take_along_axis(logits, y[:, None], -1)[:, 0]
  others = jnp.where(jax.nn.one_hot(y, logits.shape[-1], dtype=bool), -jnp.inf, logits)
  return z_y - jnp.max(others, -1)


def _square_mask(key, h: int, w: int, side):
  """A [h, w] 0/1 mask of a `side` x `side` square at a random place in the image."""
  kh, kw = jax.random.split(key)
  top = jax.random.randint(kh, (), 0, h - side + 1)
  left = jax.random.randint(kw, (), 0, w - side + 1)
  rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
  return ((rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side))


def _linf_proposal(key, x_best, x, eps, side, bounds):
  """x_best with one square set to x +- eps (one sign per channel), for one example."""
  h, w, c = x.shape
  k_mask, k_sign = jax.random.split(key)
  mask = _square_mask(k_mask, h, w, side)[..., None]
  signs = jnp.where(jax.random.bernoulli(k_sign, 0.5, (1, 1, c)), eps, -eps)
  z = jnp.where(mask, x_best + 2.0 * signs, x_best)
  return project(z[None], x[None], eps, "linf", bounds)[0]


def square(logits_fn: LogitsFn, x, y=None, eps: float = 0.03, *, norm: str = "linf",
           num_queries: int = 5000, p_init: float = 0.8, rng=None, bounds=(0.0, 1.0),
           axis_name: str | None = None, active=None):
  """(adversarial images, queries used per example): the Square Attack in the L-inf ball.

  Each query is one call of `logits_fn` (never its gradient) on the whole batch; an example
  stops counting queries once it is misclassified, and the attack stops when every active
  example is (`active`: bool per example, default all; the others are returned unchanged
  with 0 queries). The first query is the striped starting point. `rng`: a key or one key
  per example (default key 0).
  """
  check_args(x, eps, bounds, y, logits_fn)
  check_norm(norm)
  if norm != "linf":
    raise UserError("square takes norm='linf' only for now; use apgd for L2.")
  if isinstance(num_queries, int) and num_queries < 1:
    raise UserError(f"num_queries must be >= 1; got {num_queries}.")
  if not 0.0 < p_init <= 1.0:
    raise UserError(f"p_init must be in (0, 1]; got {p_init}.")
  y = labels_or_predictions(logits_fn, x, y)
  keys = example_keys(jax.random.key(0) if rng is None else rng, x.shape[0], axis_name)
  active = jnp.ones(x.shape[:1], bool) if active is None else active
  n, h, w, c = x.shape
  # Vertical stripes of +-eps, one sign per column and channel.
  stripes = jax.vmap(lambda k: jax.random.bernoulli(jax.random.fold_in(k, 0), 0.5,
                                                    (1, w, c)))(keys)
  start = project(x + jnp.where(stripes, eps, -eps), x, eps, "linf", bounds)
  x_best = where_example(active, start, x)
  best = margin(logits_fn(x_best), y)
  queries = active.astype(jnp.int32)

  def todo(s):
    return active & (s["margin"] > 0)

  def body(s):
    i = s["i"]
    side = jnp.clip(jnp.round(jnp.sqrt(square_fraction(i, p_init) * h * w)), 1,
                    min(h, w)).astype(jnp.int32)
    proposal = jax.vmap(lambda k, xb, x0: _linf_proposal(jax.random.fold_in(k, i + 1), xb, x0, eps,
                                                         side, bounds))(keys, s["x_best"], x)
    m = margin(logits_fn(proposal), y)
    going = todo(s)
    better = going & (m < s["margin"])
    return {"i": i + 1, "x_best": where_example(better, proposal, s["x_best"]),
            "margin": jnp.where(better, m, s["margin"]),
            "queries": s["queries"] + going.astype(jnp.int32)}

  s = jax.lax.while_loop(lambda s: (s["i"] < num_queries - 1) & jnp.any(todo(s)), body,
                         {"i": jnp.int32(0), "x_best": x_best, "margin": best,
                          "queries": queries})
  return jax.lax.stop_gradient(s["x_best"]), s["queries"]


__all__ = ["margin", "square", "square_fraction"]
