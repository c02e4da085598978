"""Adversarial examples: FGSM, PGD and the random-noise baseline, for any JAX model.

Every attack takes `logits_fn(x) -> logits` of a batch of images, so any JAX function works:
a Linen model in inference mode (`classifier.logits_fn(state)`, or
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
from gan_lab.errors import UserError

LogitsFn = Callable[[jax.Array], jax.Array]
NORMS = ("linf", "l2")


def _concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_args(x, eps, bounds, y=None, logits_fn: LogitsFn | None = None) -> None:
  """One clear sentence for bad attack arguments (only those known outside of jit; x=None
  checks the rest)."""
  low, high = bounds
  if _concrete(low) and _concrete(high) and not float(low) < float(high):
    raise UserError(f"bounds must have min < max; got {tuple(bounds)}.")
  if _concrete(eps) and np.any(np.asarray(eps) < 0):
    raise UserError(f"eps must be >= 0; got {eps}.")
  if x is not None and _concrete(x) and _concrete(low) and _concrete(high):
    x_np = np.asarray(x)
    x_min, x_max = float(x_np.min()), float(x_np.max())
    if x_min < float(low) or x_max > float(high):
      raise UserError(f"The images lie in [{x_min:.3g}, {x_max:.3g}], outside bounds "
                      f"{tuple(bounds)}; scale them to the bounds (uint8 images: divide by 255).")
  if y is not None and logits_fn is not None and _concrete(y) and np.size(y):
    num_classes = jax.eval_shape(logits_fn, x).shape[-1]  # Shapes only: no compute.
    y_np = np.asarray(y)
    y_min, y_max = int(y_np.min()), int(y_np.max())
    if y_min < 0 or y_max >= num_classes:
      raise UserError(f"Labels must be in [0, {num_classes}); got values in [{y_min}, {y_max}].")


def _labels(logits_fn: LogitsFn, x, y):
  """`y`, or the model's own predictions when None (no label leaking)."""
  if y is None:
    return jnp.argmax(jax.lax.stop_gradient(logits_fn(x)), -1)
  return y


def input_gradient(logits_fn: LogitsFn, x, y):
  """d/dx of the summed softmax cross-entropy of labels `y`: one forward and backward pass."""
  loss = lambda x: optax.softmax_cross_entropy_with_integer_labels(logits_fn(x), y).sum()
  return jax.grad(loss)(x)


def _example_keys(rng, batch: int, axis_name: str | None):
  """`rng` when it is already one key per example, else keys by global batch position."""
  if not jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key):
    rng = jax.random.wrap_key_data(rng)  # A raw uint32 key (jax.random.PRNGKey).
  return rng if rng.ndim == 1 else parallel.example_keys(rng, batch, axis_name)


def _fori_loop(n: int, body, init):
  """`lax.fori_loop` over n gradient steps, unrolled (by 10 past 20 steps): XLA:CPU runs
  convolution gradients inside a while loop ~1.8x slower than in straight-line code
  (benchmarks/attacks.py)."""
  return jax.lax.fori_loop(0, n, body, init, unroll=n if n <= 20 else 10)


def _per_example_l2(g):
  return jnp.sqrt(jnp.sum(g * g, axis=tuple(range(1, g.ndim)), keepdims=True))


def _direction(g, norm: str):
  """The steepest-ascent unit step for gradient `g` in the L-inf or L2 ball."""
  if norm == "linf":
    return jnp.sign(g)
  return g / jnp.maximum(_per_example_l2(g), 1e-12)


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
  y = _labels(logits_fn, x, y)
  step = eps * _direction(input_gradient(logits_fn, x, y), norm)
  return jnp.clip(x - step if targeted else x + step, *bounds)


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
  y = _labels(logits_fn, x, y)
  step_size = 2.5 * eps / num_steps if step_size is None else step_size
  low, high = jnp.maximum(x - eps, bounds[0]), jnp.minimum(x + eps, bounds[1])
  x_adv = x
  if rng is not None:
    keys = _example_keys(rng, x.shape[0], axis_name)
    noise = jax.vmap(lambda k: jax.random.uniform(k, x.shape[1:], x.dtype, -1.0, 1.0))(keys)
    x_adv = jnp.clip(x + eps * noise, low, high)
  sign = -1.0 if targeted else 1.0

  def body(_, x_adv):
    g = input_gradient(logits_fn, x_adv, y)
    return jnp.clip(x_adv + sign * step_size * jnp.sign(g), low, high)

  return _fori_loop(num_steps, body, x_adv)


def random_noise(x, eps: float, rng, *, bounds=(0.0, 1.0), axis_name: str | None = None):
  """The noise baseline of the same L-inf size: x + eps * (random signs), clipped to bounds.

  `rng`: a key, or one key per example (as for `pgd`).
  """
  check_args(x, eps, bounds)
  keys = _example_keys(rng, x.shape[0], axis_name)
  signs = jax.vmap(lambda k: jax.random.rademacher(k, x.shape[1:], x.dtype))(keys)
  return jnp.clip(x + eps * signs, *bounds)


def _kl_from_logits(p_logits, q_logits):
  """KL(softmax(p) || softmax(q)) per example."""
  log_p, log_q = jax.nn.log_softmax(p_logits), jax.nn.log_softmax(q_logits)
  return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


def check_vat_args(eps, xi, num_iterations) -> None:
  """One clear sentence for bad VAT settings (eps and xi only when concrete)."""
  if isinstance(eps, (int, float)) and not eps > 0:
    raise UserError(f"VAT eps must be > 0; got {eps}.")
  if isinstance(xi, (int, float)) and not xi > 0:
    raise UserError(f"VAT xi must be > 0; got {xi}.")
  if not (isinstance(num_iterations, int) and num_iterations >= 1):
    raise UserError(f"VAT num_iterations must be an integer >= 1; got {num_iterations}.")


def vat_perturbation(logits_fn: LogitsFn, x, rng=None, *, eps: float, xi: float = 1e-6,
                     num_iterations: int = 1, start=None, clean_logits=None,
                     axis_name: str | None = None):
  """The virtual adversarial perturbation r_adv of Miyato et al. (2018), per example.

  The direction d in which p(y|x) changes most (the top eigenvector of the Hessian of
  KL(p(y|x) || p(y|x + r)) at r = 0) by `num_iterations` steps of power iteration: d is
  replaced by the gradient of KL(p(y|x) || p(y|x + xi d)) with respect to d, renormalised
  per example in L2. Returns eps * d with ||d||_2 = 1 per example. No labels are used; the
  clean prediction p(y|x) is a constant (stop-gradient). `start`: the initial direction
  (default: standard normal per example from `rng`, a key or one key per example); only its
  direction matters. `clean_logits`: logits_fn(x) when the caller has them already.
  """
  check_vat_args(eps, xi, num_iterations)
  clean = jax.lax.stop_gradient(logits_fn(x) if clean_logits is None else clean_logits)
  if start is None:
    if rng is None:
      raise UserError("vat_perturbation needs rng (or a start direction).")
    keys = _example_keys(rng, x.shape[0], axis_name)
    start = jax.vmap(lambda k: jax.random.normal(k, x.shape[1:], x.dtype))(keys)
  def unit(d):
    # The KL gradient is ~xi^2 small (1e-12 at xi 1e-6): rescale by its largest entry before
    # the L2 norm, so that squares do not underflow. A zero d (a constant model) stays zero;
    # `where`, not a floor: XLA folded max(0, floor) divisions of a constant zero to NaN.
    largest = jnp.max(jnp.abs(d), axis=tuple(range(1, d.ndim)), keepdims=True)
    d = d / jnp.where(largest > 0, largest, 1.0)
    norm = _per_example_l2(d)
    return d / jnp.where(norm > 0, norm, 1.0)

  kl = lambda d: jnp.sum(_kl_from_logits(clean, logits_fn(x + xi * d)))

  def body(_, d):
    return unit(jax.grad(kl)(d))

  d = _fori_loop(num_iterations, body, unit(start))
  return jax.lax.stop_gradient(eps * d)


def vat_loss(clean_logits, perturbed_logits):
  """Mean KL(p(y|x) || p(y|x + r_adv)), the clean side held constant: add alpha times it to
  any objective (it needs no labels)."""
  return jnp.mean(_kl_from_logits(jax.lax.stop_gradient(clean_logits), perturbed_logits))


def entropy_loss(logits):
  """Mean entropy of p(y|x): entropy minimisation (Grandvalet & Bengio 2005), as in VAT+EntMin."""
  log_p = jax.nn.log_softmax(logits)
  return jnp.mean(-jnp.sum(jnp.exp(log_p) * log_p, axis=-1))
