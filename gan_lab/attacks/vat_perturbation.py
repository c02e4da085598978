"""The virtual adversarial perturbation and the losses of VAT (Miyato et al. 2018)."""

import jax
import jax.numpy as jnp

from gan_lab.attacks.base import LogitsFn, example_keys, fori_loop, per_example_l2
from gan_lab.core.errors import UserError

def kl_from_logits(p_logits, q_logits):
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
    keys = example_keys(rng, x.shape[0], axis_name)
    start = jax.vmap(lambda k: jax.random.normal(k, x.shape[1:], x.dtype))(keys)
  def unit(d):
    # The KL gradient is ~xi^2 small (1e-12 at xi 1e-6): rescale by its largest entry before
    # the L2 norm, so that squares do not underflow. A zero d (a constant model) stays zero;
    # `where`, not a floor: XLA folded max(0, floor) divisions of a constant zero to NaN.
    largest = jnp.max(jnp.abs(d), axis=tuple(range(1, d.ndim)), keepdims=True)
    d = d / jnp.where(largest > 0, largest, 1.0)
    norm = per_example_l2(d)
    return d / jnp.where(norm > 0, norm, 1.0)

  kl = lambda d: jnp.sum(kl_from_logits(clean, logits_fn(x + xi * d)))

  def body(_, d):
    return unit(jax.grad(kl)(d))

  d = fori_loop(num_iterations, body, unit(start))
  return jax.lax.stop_gradient(eps * d)


def vat_loss(clean_logits, perturbed_logits):
  """Mean KL(p(y|x) || p(y|x + r_adv)), the clean side held constant: add alpha times it to
  any objective (it needs no labels)."""
  return jnp.mean(kl_from_logits(jax.lax.stop_gradient(clean_logits), perturbed_logits))


def entropy_loss(logits):
  """Mean entropy of p(y|x): entropy minimisation (Grandvalet & Bengio 2005), as in VAT+EntMin."""
  log_p = jax.nn.log_softmax(logits)
  return jnp.mean(-jnp.sum(jnp.exp(log_p) * log_p, axis=-1))
