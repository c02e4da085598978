"""Mixed precision: the models compute in `config.dtype` and hand back at least float32."""

import jax.numpy as jnp


def full_precision(x):
  """`x` in at least float32 (float64 stays): what losses, metrics and attacks see of a
  model computing in bfloat16."""
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))
