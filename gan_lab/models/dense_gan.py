"""The lecture's GAN (Geron, Hands-On ML ch. 17): two small dense networks with SELU.

Generator: codings -> Dense 100 SELU -> Dense 150 SELU -> Dense H*W*C sigmoid -> image
(136,634 parameters for 30 codings and 28x28x1). Discriminator: flatten -> Dense 150 SELU ->
Dense 100 SELU -> Dense 1 (132,951 parameters on 28x28x1). The discriminator returns a
logit; the sigmoid of the lecture's output layer lives inside the loss
(`optax.sigmoid_binary_cross_entropy`), which is the same model, computed stably.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from gan_lab.models.precision import full_precision
from gan_lab.models.spectral_norm import maybe_spectral_norm


class DenseGenerator(nn.Module):
  """codings [B, codings] -> images [B, H, W, C] in [0, 1]."""
  image_shape: Sequence[int] = (28, 28, 1)
  hidden: Sequence[int] = (100, 150)
  dtype: Any = None  # The compute dtype (config.dtype; None: the input's); params stay float32.

  @nn.compact
  def __call__(self, z, train: bool = False):
    del train  # No BatchNorm or dropout.
    x = z
    for width in self.hidden:
      x = nn.Dense(width, dtype=self.dtype)(x)
      x = nn.selu(x)
    x = nn.Dense(int(np.prod(self.image_shape)), dtype=self.dtype)(x)
    x = nn.sigmoid(full_precision(x))
    return x.reshape((z.shape[0], *self.image_shape))


class DenseDiscriminator(nn.Module):
  """images [B, H, W, C] in [0, 1] -> logits [B] of "real"; `spectral_norm`
  (config.gan.spectral_norm) divides each layer's weight by its largest singular value."""
  hidden: Sequence[int] = (150, 100)
  dtype: Any = None  # The compute dtype (config.dtype; None: the input's); params stay float32.
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    layer = lambda module: maybe_spectral_norm(module, self.spectral_norm, train)
    x = x.reshape((x.shape[0], -1))
    for width in self.hidden:
      x = layer(nn.Dense(width, dtype=self.dtype))(x)
      x = nn.selu(x)
    x = layer(nn.Dense(1, dtype=self.dtype))(x)
    return full_precision(jnp.squeeze(x, -1))
