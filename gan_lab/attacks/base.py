"""What every attack shares: argument checks, input gradients, per-example keys and steps.

Every attack takes `logits_fn(x) -> logits` of a batch of images, so any JAX function works:
a Linen model in inference mode (`gan_lab.inference.logits_fn(state)`, or
`functools.partial(model.apply, variables, train=False)` for a model of one's own), a
Haiku or Equinox model, or an ensemble. Attack BatchNorm and dropout models in inference
mode: in training mode the prediction for one image depends on the rest of the batch and
on dropout keys, and the attack's passes would change the running statistics.

Inputs are images in `bounds` (default [0, 1], the input space of every gan_lab model), so
`eps` is in those units: eps = 8/255 is "8 grey levels". Gradients are taken with
`jax.grad` with respect to the inputs of the summed softmax cross-entropy, so each example's
perturbation depends only on that example. Everything is jit- and vmap-able; PGD's
iterations are one `lax.fori_loop`. Checks of the arguments run on concrete values and are
skipped for traced ones (inside jit).
"""

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_lab import parallel
from gan_lab.core.errors import UserError

LogitsFn = Callable[[jax.Array], jax.Array]
NORMS = ("linf", "l2")


def concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_args(x, eps, bounds, y=None, logits_fn: LogitsFn | None = None) -> None:
  """One clear sentence for bad attack arguments (only those known outside of jit; x=None
  checks the rest)."""
  low, high = bounds
  if concrete(low) and concrete(high) and not float(low) < float(high):
    raise UserError(f"bounds must have min < max; got {tuple(bounds)}.")
  if concrete(eps) and np.any(np.asarray(eps) < 0):
    raise UserError(f"eps must be >= 0; got {eps}.")
  if x is not None and concrete(x) and concrete(low) and concrete(high):
    x_np = np.asarray(x)
    x_min, x_max = float(x_np.min()), float(x_np.max())
    if x_min < float(low) or x_max > float(high):
      raise UserError(f"The images lie in [{x_min:.3g}, {x_max:.3g}], outside bounds "
                      f"{tuple(bounds)}; scale them to the bounds (uint8 images: divide by 255).")
  if y is not None and logits_fn is not None and concrete(y) and np.size(y):
    num_classes = jax.eval_shape(logits_fn, x).shape[-1]  # Shapes only: no compute.
    y_np = np.asarray(y)
    y_min, y_max = int(y_np.min()), int(y_np.max())
    if y_min < 0 or y_max >= num_classes:
      raise UserError(f"Labels must be in [0, {num_classes}); got values in [{y_min}, {y_max}].")


def check_linf_eps(eps, name: str = "eps") -> None:
  """One sentence for an L-inf budget outside [0, 1], the pixel range of the images: a
  larger one allows any image at all, which is almost always a budget in grey levels."""
  check_args(None, eps, (0.0, 1.0))
  if concrete(eps) and np.any(np.asarray(eps) > 1.0):
    raise UserError(f"{name} {eps} is more than the whole [0, 1] pixel range; budgets are in "
                    "[0, 1] pixel units (8/255 = 0.031 is 8 grey levels).")


def labels_or_predictions(logits_fn: LogitsFn, x, y):
  """`y`, or the model's own predictions when None (no label leaking)."""
  if y is None:
    return jnp.argmax(jax.lax.stop_gradient(logits_fn(x)), -1)
  return y


def input_gradient(logits_fn: LogitsFn, x, y):
  """d/dx of the summed softmax cross-entropy of labels `y`: one forward and backward pass."""
  loss = lambda x: optax.softmax_cross_entropy_with_integer_labels(logits_fn(x), y).sum()
  return jax.grad(loss)(x)


def example_keys(rng, batch: int, axis_name: str | None):
  """`rng` when it is already one key per example, else keys by global batch position."""
  if not jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key):
    rng = jax.random.wrap_key_data(rng)  # A raw uint32 key (jax.random.PRNGKey).
  return rng if rng.ndim == 1 else parallel.example_keys(rng, batch, axis_name)


def fori_loop(n: int, body, init):
  """`lax.fori_loop` over n gradient steps, unrolled (by 10 past 20 steps): XLA:CPU runs
  convolution gradients inside a while loop ~1.8x slower than in straight-line code
  (benchmarks/attacks.py)."""
  return jax.lax.fori_loop(0, n, body, init, unroll=n if n <= 20 else 10)


def per_example_l2(g):
  return jnp.sqrt(jnp.sum(g * g, axis=tuple(range(1, g.ndim)), keepdims=True))


def where_example(mask, a, b):
  """Per example, `a` where `mask` (bool [batch]) holds, else `b` ([batch, ...] each)."""
  return jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)


def direction(g, norm: str):
  """The steepest-ascent unit step for gradient `g` in the L-inf or L2 ball."""
  if norm == "linf":
    return jnp.sign(g)
  return g / jnp.maximum(per_example_l2(g), 1e-12)


def check_norm(norm: str) -> None:
  if norm not in NORMS:
    raise UserError(f"Unknown norm {norm!r}; choose one of {', '.join(NORMS)}.")


def project(z, x, eps, norm: str, bounds=(0.0, 1.0)):
  """`z` moved into the `norm` ball of radius `eps` around `x`, then into `bounds`."""
  if norm == "linf":
    z = jnp.clip(z, x - eps, x + eps)
  else:
    d = z - x
    z = x + d * jnp.minimum(1.0, eps / jnp.maximum(per_example_l2(d), 1e-12))
  return jnp.clip(z, bounds[0], bounds[1])


def random_start(x, eps, keys, norm: str, bounds=(0.0, 1.0)):
  """A random point on the sphere of radius `eps` around each example (L-inf: a uniform
  direction scaled to touch the sphere), clipped into `bounds`; one key per example."""
  if norm == "linf":
    t = jax.vmap(lambda k: jax.random.uniform(k, x.shape[1:], x.dtype, -1.0, 1.0))(keys)
    size = jnp.max(jnp.abs(t), axis=tuple(range(1, x.ndim)), keepdims=True)
  else:
    t = jax.vmap(lambda k: jax.random.normal(k, x.shape[1:], x.dtype))(keys)
    size = per_example_l2(t)
  return jnp.clip(x + eps * t / jnp.maximum(size, 1e-12), bounds[0], bounds[1])


def run_while(n: int, body, init, counter, active, chunk: int = 10):
  """`body` applied up to `n` times, stopping early once `active(state)` (bool per example)
  is all False: examples that are done (fooled) cost nothing once all of the batch are.
  `counter(state)` is the number of steps taken. Steps run `chunk` at a time, unrolled,
  since XLA:CPU runs convolution gradients in a loop body much slower than unrolled."""
  chunk = max(c for c in range(1, min(chunk, n) + 1) if n % c == 0)

  def steps(state):
    for _ in range(chunk):
      state = body(state)
    return state

  return jax.lax.while_loop(lambda s: (counter(s) < n) & jnp.any(active(s)), steps, init)
