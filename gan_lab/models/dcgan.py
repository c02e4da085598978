"""DCGAN (Radford et al. 2016) following the guidelines the lecture lists.

Strided convolutions in the discriminator and transposed convolutions in the generator (no
pooling); BatchNorm in both except the generator's output layer and the discriminator's
input layer; no fully connected hidden layers (only the projection of z and the final
logit); ReLU in the generator with a tanh output, LeakyReLU(0.2) in the discriminator;
weights drawn from N(0, 0.02). Layers followed by BatchNorm have no bias: BatchNorm removes
it, so its gradient is rounding noise that Adam would turn into steps of size lr.

The generator's tanh output is mapped to [0, 1] ((tanh + 1) / 2), the image range every
model here uses, so real and generated images reach the discriminator on the same scale.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from gan_lab.core.errors import UserError
from gan_lab.models.conv import Conv, ConvTranspose
from gan_lab.models.precision import full_precision
from gan_lab.models.spectral_norm import maybe_spectral_norm

_INIT = nn.initializers.normal(0.02)


class DCGANGenerator(nn.Module):
  """codings [B, codings] -> images [B, H, W, C] in [0, 1].

  `features` are the channels before each of the len(features) 2x upsamplings; H and W must
  be divisible by 2**len(features): (128, 64) for 28x28, (256, 128, 64) for 32x32.
  """
  image_shape: Sequence[int] = (28, 28, 1)
  features: Sequence[int] = (128, 64)
  axis_name: str | None = None  # BatchNorm statistics over the global batch.
  conv: str = "auto"
  dtype: Any = None  # The compute dtype (config.dtype; None: the input's); params stay float32.

  @nn.compact
  def __call__(self, z, train: bool = False):
    height, width, channels = self.image_shape
    scale = 2 ** len(self.features)
    if height % scale or width % scale:
      raise UserError(f"The DCGAN generator's image_shape {tuple(self.image_shape)} is not "
                      f"divisible by 2**len(features) = {scale}; use as many features as the "
                      "image side can be halved.")
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9,
                                axis_name=self.axis_name if train else None, dtype=self.dtype)
    x = nn.Dense(height // scale * width // scale * self.features[0], use_bias=False,
                 kernel_init=_INIT, dtype=self.dtype)(z)
    x = x.reshape((z.shape[0], height // scale, width // scale, self.features[0]))
    x = norm()(x)
    x = nn.relu(x)
    for feat in self.features[1:]:
      x = ConvTranspose(feat, (4, 4), strides=(2, 2), padding="SAME", use_bias=False,
                        kernel_init=_INIT, impl=self.conv, dtype=self.dtype)(x)
      x = norm()(x)
      x = nn.relu(x)
    x = ConvTranspose(channels, (4, 4), strides=(2, 2), padding="SAME", kernel_init=_INIT,
                      impl=self.conv, dtype=self.dtype)(x)
    x = nn.tanh(full_precision(x))
    return (x + 1.0) / 2.0


class DCGANDiscriminator(nn.Module):
  """images [B, H, W, C] in [0, 1] -> logits [B] of "real".

  `spectral_norm` (config.gan.spectral_norm): every layer's weight divided by its largest
  singular value (`nn.SpectralNorm`, one power iteration per training call) and no BatchNorm,
  as in Miyato et al.'s SN-DCGAN, so each example's logit depends on it alone.
  """
  features: Sequence[int] = (64, 128)
  axis_name: str | None = None
  conv: str = "auto"
  dtype: Any = None  # The compute dtype (config.dtype; None: the input's); params stay float32.
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    layer = lambda module: maybe_spectral_norm(module, self.spectral_norm, train)
    for i, feat in enumerate(self.features):
      batch_norm = i > 0 and not self.spectral_norm  # None on the input layer.
      x = layer(Conv(feat, (4, 4), strides=(2, 2), padding="SAME", use_bias=not batch_norm,
                     kernel_init=_INIT, impl=self.conv, dtype=self.dtype))(x)
      if batch_norm:
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                         axis_name=self.axis_name if train else None, dtype=self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    x = x.reshape((x.shape[0], -1))
    x = layer(nn.Dense(1, kernel_init=_INIT, dtype=self.dtype))(x)
    return full_precision(jnp.squeeze(x, -1))
