"""Square Attack (Andriushchenko et al. 2020): a score-based black-box attack.

It sees only the model's outputs, never a gradient: random squares are tried one at a time
and kept when they lower the margin z_y - max_{i != y} z_i. In L-inf a square is set to
x +- eps; in L2 it gets a centred bump of alternating sign (`bump`) while the perturbation's
mass of a second square moves into it, so the perturbation stays on the eps-sphere. As
max-andr/square-attack and fra31/auto-attack's `SquareAttack` (p_init 0.8, its schedule of
square sizes over the queries; L-inf starts from vertical stripes, L2 from a grid of bumps),
with every square's place and signs drawn per example from the example's own key, so a
result does not depend on the batch.
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


def _square_mask(key, h: int, w: int, side, top=None, left=None):
  """A [h, w] bool mask of a `side` x `side` square at (top, left), or at a random place."""
  if key is not None:
    kh, kw = jax.random.split(key)
    top = jax.random.randint(kh, (), 0, h - side + 1)
    left = jax.random.randint(kw, (), 0, w - side + 1)
  rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
  return ((rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side))


def _side(i, p_init: float, h: int, w: int, norm: str):
  """The side of the square tried at query `i`: L2's is odd and at least 3, as the paper's."""
  side = jnp.round(jnp.sqrt(square_fraction(i, p_init) * h * w)).astype(jnp.int32)
  if norm == "l2":
    side = jnp.maximum(side, 3)
    side = side + 1 - side % 2
  return jnp.clip(side, 1, min(h, w))


def _linf_proposal(key, x_best, x, eps, side, bounds):
  """x_best with one square set to x +- eps (one sign per channel), for one example."""
  h, w, c = x.shape
  k_mask, k_sign = jax.random.split(key)
  mask = _square_mask(k_mask, h, w, side)[..., None]
  signs = jnp.where(jax.random.bernoulli(k_sign, 0.5, (1, 1, c)), eps, -eps)
  z = jnp.where(mask, x_best + 2.0 * signs, x_best)
  return project(z[None], x[None], eps, "linf", bounds)[0]


def _l2(v, axes=(0, 1, 2)):
  return jnp.sqrt(jnp.sum(v * v, axes, keepdims=True))


def _unit(v, axes):
  return v / (_l2(v, axes) + 1e-12)


def bump(h: int, w: int, top, left, side, transpose):
  """The L2 attack's unit-norm square of `side` at (top, left) in an [h, w] image, 0 outside:
  its upper half positive, its lower half negative (or left and right, `transpose`), each
  half concentric rings around its centre weighted sum_{k >= ring} 1 / (k + 1)^2, as
  square-attack's `meta_pseudo_gaussian_pert`; `side` may be a traced value."""
  rows, cols = jnp.arange(h)[:, None] - top, jnp.arange(w)[None, :] - left
  rows, cols = jnp.where(transpose, cols, rows), jnp.where(transpose, rows, cols)
  inside = (rows >= 0) & (rows < side) & (cols >= 0) & (cols < side)
  half = side // 2
  upper = rows < half
  local = jnp.where(upper, rows, rows - half)
  height = jnp.where(upper, half, side - half)
  ring = jnp.maximum(jnp.abs(local - height // 2), jnp.abs(cols - half))
  # sum_{k=ring}^{K-1} 1/(k+1)^2 with K = side // 2 + 1 rings: a difference of partial sums.
  inverse_squares = jnp.concatenate([jnp.zeros(1),
                                     jnp.cumsum(1.0 / jnp.arange(1, max(h, w) + 2) ** 2)])
  value = inverse_squares[half + 1] - inverse_squares[jnp.minimum(ring, half + 1)]
  halves = [jnp.where(inside & (upper == u), value, 0.0) for u in (True, False)]
  return _unit(_unit(halves[0], (0, 1)) - _unit(halves[1], (0, 1)), (0, 1))


def _random_bump(key, h, w, top, left, side, c):
  """`bump` with a random orientation and a random sign per channel: [h, w, c]."""
  k_t, k_s = jax.random.split(key)
  signs = jnp.where(jax.random.bernoulli(k_s, 0.5, (c,)), 1.0, -1.0)
  return bump(h, w, top, left, side, jax.random.bernoulli(k_t))[..., None] * signs


def _l2_start(key, x, eps, bounds):
  """A grid of bumps a fifth of the image wide, scaled onto the eps-sphere: one example."""
  h, w, c = x.shape
  side = max(h // 5, 1)
  offset = (h - 5 * side) // 2
  delta = jnp.zeros_like(x)
  for i in range(h // side):
    for j in range(w // side):
      delta += _random_bump(jax.random.fold_in(key, i * (w // side) + j), h, w,
                            offset + i * side, offset + j * side, side, c)
  return jnp.clip(x + eps * _unit(delta, (0, 1, 2)), *bounds)


def _l2_proposal(key, x_best, x, eps, side, bounds):
  """x_best with the perturbation's mass in two random squares (over all channels) moved
  into a new bump in the first, per channel, then put back on the eps-sphere: one example."""
  h, w, c = x.shape
  k1, k2, k_bump = jax.random.split(key, 3)
  corner = lambda k: jax.random.randint(k, (2,), 0, jnp.array([h, w]) - side + 1)
  (top, left), (top2, left2) = corner(k1), corner(k2)
  first = _square_mask(None, h, w, side, top, left)[..., None]
  second = _square_mask(None, h, w, side, top2, left2)[..., None]
  delta = x_best - x
  new = _random_bump(k_bump, h, w, top, left, side, c) + _unit(delta * first, (0, 1))
  # The budget the window gets: its share of what is left of eps, plus what both squares held.
  budget = jnp.sqrt(jnp.maximum(eps ** 2 - _l2(delta) ** 2, 0.0) / c
                    + _l2(delta * (first | second)) ** 2)
  delta = jnp.where(first, _unit(new, (0, 1)) * budget, jnp.where(second, 0.0, delta))
  return jnp.clip(x + eps * _unit(delta, (0, 1, 2)), *bounds)


def square(logits_fn: LogitsFn, x, y=None, eps: float = 0.03, *, norm: str = "linf",
           num_queries: int = 5000, p_init: float = 0.8, rng=None, bounds=(0.0, 1.0),
           axis_name: str | None = None, active=None):
  """(adversarial images, queries used per example): the Square Attack in the `norm` ball.

  Each query is one call of `logits_fn` (never its gradient) on the whole batch; an example
  stops counting queries once it is misclassified, and the attack stops when every active
  example is (`active`: bool per example, default all; the others are returned unchanged
  with 0 queries). The first query is the striped starting point. `rng`: a key or one key
  per example (default key 0).
  """
  check_args(x, eps, bounds, y, logits_fn)
  check_norm(norm)
  if isinstance(num_queries, int) and num_queries < 1:
    raise UserError(f"num_queries must be >= 1; got {num_queries}.")
  if not 0.0 < p_init <= 1.0:
    raise UserError(f"p_init must be in (0, 1]; got {p_init}.")
  y = labels_or_predictions(logits_fn, x, y)
  keys = example_keys(jax.random.key(0) if rng is None else rng, x.shape[0], axis_name)
  active = jnp.ones(x.shape[:1], bool) if active is None else active
  n, h, w, c = x.shape
  if norm == "linf":
    # Vertical stripes of +-eps, one sign per column and channel.
    stripes = jax.vmap(lambda k: jax.random.bernoulli(jax.random.fold_in(k, 0), 0.5,
                                                      (1, w, c)))(keys)
    start = project(x + jnp.where(stripes, eps, -eps), x, eps, "linf", bounds)
    proposal_fn = _linf_proposal
  else:
    start = jax.vmap(lambda k, x0: _l2_start(jax.random.fold_in(k, 0), x0, eps, bounds))(keys, x)
    proposal_fn = _l2_proposal
  x_best = where_example(active, start, x)
  best = margin(logits_fn(x_best), y)
  queries = active.astype(jnp.int32)

  def todo(s):
    return active & (s["margin"] > 0)

  def body(s):
    i = s["i"]
    side = _side(i, p_init, h, w, norm)
    proposal = jax.vmap(lambda k, xb, x0: proposal_fn(jax.random.fold_in(k, i + 1), xb, x0, eps,
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


__all__ = ["bump", "margin", "square", "square_fraction"]
