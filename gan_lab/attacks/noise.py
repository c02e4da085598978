"""The random-noise baseline: random signs of the same L-inf size as an attack's budget."""

import jax
import jax.numpy as jnp

from gan_lab.attacks.base import check_args, example_keys

def random_noise(x, eps: float, rng, *, bounds=(0.0, 1.0), axis_name: str | None = None):
  """The noise baseline of the same L-inf size: x + eps * (random signs), clipped to bounds.

  `rng`: a key, or one key per example (as for `pgd`).
  """
  check_args(x, eps, bounds)
  keys = example_keys(rng, x.shape[0], axis_name)
  signs = jax.vmap(lambda k: jax.random.rademacher(k, x.shape[1:], x.dtype))(keys)
  return jnp.clip(x + eps * signs, *bounds)
