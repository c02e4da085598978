"""GAN objectives and gradient penalties on the discriminator's logits (`config.gan.loss`,
`config.gan.penalty`).

Losses (Mao et al. 2017 for least squares; Arjovsky et al. 2017 for Wasserstein; Miyato et
al. 2018 for hinge): each is the discriminator's phase-1 objective and the generator's
phase-2 objective, scalars to minimise. The generator's BCE is the usual non-saturating form
(generated images labelled 1).

Penalties, added to D's phase-1 loss with weight `config.gan.penalty_weight`; both take a
gradient with respect to D's inputs inside the loss, so D's update differentiates twice:
- "wgan-gp" (Gulrajani et al. 2017): weight * E[(||grad_x D(x_hat)||_2 - 1)^2] on random
  interpolates x_hat of real and generated images, one mixing weight per example;
- "r1" (Mescheder et al. 2018): weight / 2 * E[||grad_x D(x)||^2] on real images.
With BatchNorm in D an example's logit depends on its batch, so the input gradient is that of
the batch's summed logits; spectral normalisation (`config.gan.spectral_norm`) drops D's
BatchNorm and with it this coupling, as Miyato et al. and Gulrajani et al. advise.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from gan_lab import parallel
from gan_lab.core.registry import Registry


class GANLoss(NamedTuple):
  """A GAN objective on D's logits: `d(real_logits, fake_logits, smoothing)` for phase 1 and
  `g(fake_logits)` for phase 2, each a scalar to minimise. `smooths`: whether `smoothing`
  (one-sided label smoothing, real targets 1 - s) means anything to it."""
  d: Callable
  g: Callable
  smooths: bool = False


def _bce_d(real_logits, fake_logits, smoothing: float):
  real = optax.sigmoid_binary_cross_entropy(real_logits, jnp.full_like(real_logits,
                                                                       1.0 - smoothing))
  fake = optax.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits))
  return jnp.mean(real) + jnp.mean(fake)


def _bce_g(fake_logits):
  return jnp.mean(optax.sigmoid_binary_cross_entropy(fake_logits, jnp.ones_like(fake_logits)))


def _hinge_d(real_logits, fake_logits, smoothing: float):
  del smoothing
  return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def _least_squares_d(real_logits, fake_logits, smoothing: float):
  # Targets b = 1 (real, or 1 - s) and a = 0 (fake); G aims at c = 1 (Mao et al.'s 0-1-1).
  return 0.5 * (jnp.mean((real_logits - (1.0 - smoothing)) ** 2) + jnp.mean(fake_logits ** 2))


def _wasserstein_d(real_logits, fake_logits, smoothing: float):
  del smoothing
  return jnp.mean(fake_logits) - jnp.mean(real_logits)


# `config.gan.loss`: a name here, one added with `LOSSES.register`, or "package.module:attr"
# naming a GANLoss of the user's own code (docs/extending.md).
LOSSES = Registry("GAN loss", {
    "bce": GANLoss(d=_bce_d, g=_bce_g, smooths=True),
    "hinge": GANLoss(d=_hinge_d, g=lambda fake_logits: -jnp.mean(fake_logits)),
    "least_squares": GANLoss(d=_least_squares_d,
                             g=lambda fake_logits: 0.5 * jnp.mean((fake_logits - 1.0) ** 2),
                             smooths=True),
    "wasserstein": GANLoss(d=_wasserstein_d, g=lambda fake_logits: -jnp.mean(fake_logits)),
})


def _input_grad(d_fn, x):
  """grad_x of the summed logits: per example when D treats examples independently."""
  return jax.grad(lambda x: jnp.sum(d_fn(x)))(x)


def _flat(x):
  """[B, ...] -> [B, everything else]: one row per example."""
  return x.reshape(x.shape[0], -1)


def wgan_gp(d_fn, real, fake, rng, axis_name=None):
  keys = parallel.example_keys(rng, len(real), axis_name)
  t = jax.vmap(lambda k: jax.random.uniform(k, ()))(keys).reshape(-1, *[1] * (real.ndim - 1))
  grad = _input_grad(d_fn, real + t * (fake - real))
  norm = optax.safe_norm(_flat(grad), 1e-12, axis=-1)
  return jnp.mean((norm - 1.0) ** 2)


def r1(d_fn, real, fake, rng, axis_name=None):
  del fake, rng, axis_name
  grad = _input_grad(d_fn, real)
  return 0.5 * jnp.mean(jnp.sum(_flat(grad) ** 2, -1))


# `config.gan.penalty`: (d_fn, real, fake, rng, axis_name) -> scalar, before its weight.
PENALTIES = Registry("gradient penalty", {"none": None, "wgan-gp": wgan_gp, "r1": r1})
