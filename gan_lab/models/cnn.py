"""Classifiers: the lecture's CNN, a configurable conv stack and the dense baseline.

All models take images as float in [0, 1] (NHWC) and return logits. Any input
normalisation belongs inside the model, so that attack budgets (eps) stay in [0, 1] units.
Each sows its penultimate activations as "features" (collection "intermediates"), which
`inference.logits_and_features` reads: the feature space of the classifier-FID.
"""

import dataclasses
import functools
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_lab import parallel
from gan_lab.core.errors import UserError
from gan_lab.models.conv import Conv, check_implementation
from gan_lab.models.precision import full_precision


class Pool(nn.Module):
  """Max or average pooling as a module, so summaries can see its window and stride."""
  kind: str = "max"
  window: int = 2
  stride: int | None = None  # Defaults to the window, as in Keras.
  padding: str = "VALID"
  impl: str = "auto"         # "lax": nn.max_pool's own derivatives (gan_lab.models.conv).

  @nn.compact
  def __call__(self, x):
    stride = self.stride or self.window
    if (self.kind == "max" and stride == self.window and self.padding == "VALID"
        and check_implementation(self.impl) != "lax"):
      return _tiled_max_pool(x, self.window)
    pool = {"max": nn.max_pool, "avg": nn.avg_pool}[self.kind]
    return pool(x, (self.window, self.window), (stride, stride), self.padding)


def _tiles(x, k: int):
  """[B, H, W, C] -> [B, H/k, k, W/k, k, C]; rows and columns that do not fill a tile dropped."""
  b, h, w, c = x.shape
  return x[:, :h // k * k, :w // k * k].reshape(b, h // k, k, w // k, k, c)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _tiled_max_pool(x, k: int):
  """Max pooling over non-overlapping k x k tiles: a reshape and a max.

  The same values and derivatives as `nn.max_pool` (VALID: rows and columns that do not
  fill a tile are dropped; at a tie the derivative goes to the tile's first max in row-major
  order, as XLA's and Keras's do; tested). The JVP is a mask of each tile's first max, so
  reverse mode is elementwise: XLA:CPU computes max_pool's gradient with select-and-scatter,
  ~9x slower (88 ms against 10 ms for SeedCNN's first pool at batch 256).
  """
  return _tiles(x, k).max(axis=(2, 4))


@_tiled_max_pool.defjvp
def _tiled_max_pool_jvp(k, primals, tangents):
  (x,), (dx,) = primals, tangents
  tiles = _tiles(x, k)
  y = tiles.max(axis=(2, 4))
  taken = jnp.zeros(y.shape, bool)  # Whether the tile's first max has been passed.
  first = []
  for i in range(k):
    for j in range(k):
      is_first = (tiles[:, :, i, :, j, :] == y) & ~taken
      taken = taken | is_first
      first.append(is_first)
  mask = jnp.stack(first, axis=-1).reshape(*y.shape, k, k)  # [B, h, w, C, i, j]
  mask = jnp.moveaxis(mask, (-2, -1), (2, 4))             # [B, h, i, w, j, C]
  return y, jnp.sum(jnp.where(mask, _tiles(dx, k), 0.0), axis=(2, 4))


class ExampleDropout(nn.Module):
  """Dropout whose mask for an example depends only on its place in the global batch.

  The mask of example i is drawn from fold_in(rng, i), so a step gives the same numbers
  however its batch is split over devices (with `axis_name`, the mapped device axis).
  """
  rate: float
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, deterministic: bool):
    if deterministic or self.rate == 0:
      return x
    keys = parallel.example_keys(self.make_rng("dropout"), x.shape[0], self.axis_name)
    keep = jax.vmap(lambda k: jax.random.bernoulli(k, 1.0 - self.rate, x.shape[1:]))(keys)
    return jnp.where(keep, x / (1.0 - self.rate), 0.0)


class SeedCNN(nn.Module):
  """The lecture's CNN (the TensorFlow CNN tutorial), layer for layer.

  122,570 parameters on 32x32x3 with 10 classes; 93,322 on 28x28x1.
  """
  num_classes: int = 10
  conv: str = "auto"  # The convolution implementation (gan_lab.models.conv).
  dtype: Any = None  # The compute dtype (config.dtype; None: the input's); params stay float32.

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train  # No dropout or BatchNorm: the same in both modes.
    x = Conv(32, (3, 3), padding="VALID", impl=self.conv, dtype=self.dtype)(x)
    x = nn.relu(x)
    x = Pool("max", 2, impl=self.conv)(x)
    x = Conv(64, (3, 3), padding="VALID", impl=self.conv, dtype=self.dtype)(x)
    x = nn.relu(x)
    x = Pool("max", 2, impl=self.conv)(x)
    x = Conv(64, (3, 3), padding="VALID", impl=self.conv, dtype=self.dtype)(x)
    x = nn.relu(x)
    x = x.reshape((x.shape[0], -1))
    x = nn.Dense(64, dtype=self.dtype)(x)
    x = nn.relu(x)
    self.sow("intermediates", "features", full_precision(x))
    x = nn.Dense(self.num_classes, dtype=self.dtype)(x)
    return full_precision(x)


@dataclasses.dataclass(frozen=True)
class ConvLayer:
  """One conv block of `ConvNet`: conv -> [BatchNorm] -> ReLU -> [pool] -> [dropout]."""
  filters: int
  kernel: int = 3
  stride: int = 1
  padding: str = "SAME"          # "SAME" or "VALID"
  pool: str = "max"              # "max", "avg" or "none"
  pool_size: int = 2
  dropout: float = 0.0
  batch_norm: bool = False

  def __post_init__(self):
    if self.padding not in ("SAME", "VALID"):
      raise UserError(f"A ConvLayer's padding must be 'SAME' or 'VALID'; got {self.padding!r}.")
    if self.pool not in ("max", "avg", "none"):
      raise UserError(f"A ConvLayer's pool must be 'max', 'avg' or 'none'; got {self.pool!r}.")

  @classmethod
  def of(cls, spec) -> "ConvLayer":
    """`spec` itself, or the ConvLayer of a config mapping of its fields."""
    if isinstance(spec, cls):
      return spec
    unknown = sorted(set(spec) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise UserError(f"A ConvLayer has no field {', '.join(map(repr, unknown))}; its fields are "
                      f"{', '.join(f.name for f in dataclasses.fields(cls))}.")
    return cls(**spec)


class ConvNet(nn.Module):
  """A conv stack with the knobs the lecture teaches, set per layer, then a dense head.

  `layers` holds `ConvLayer`s or mappings of their fields (as written in a config).
  `axis_name`: the device axis the training step runs under, which the step sets
  (`models.with_axis`); BatchNorm then uses the statistics of the global batch and dropout
  masks do not depend on the device split. Stored and restored models have None.
  """
  layers: Sequence[ConvLayer | Mapping] = (ConvLayer(32), ConvLayer(64))
  dense: Sequence[int] = (128,)  # The head: an MLP with these hidden widths.
  num_classes: int = 10
  dropout: float = 0.0  # After each hidden dense layer.
  axis_name: str | None = None
  conv: str = "auto"
  dtype: Any = None  # The compute dtype (config.dtype; None: the input's); params stay float32.

  @nn.compact
  def __call__(self, x, train: bool = False):
    for spec in self.layers:
      layer = ConvLayer.of(spec)
      x = Conv(layer.filters, (layer.kernel, layer.kernel), strides=layer.stride,
               padding=layer.padding, use_bias=not layer.batch_norm, impl=self.conv,
               dtype=self.dtype)(x)
      if layer.batch_norm:
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                         axis_name=self.axis_name if train else None, dtype=self.dtype)(x)
      x = nn.relu(x)
      if layer.pool != "none":
        x = Pool(layer.pool, layer.pool_size, impl=self.conv)(x)
      if layer.dropout:
        x = ExampleDropout(layer.dropout, self.axis_name)(x, deterministic=not train)
    x = MLP(self.dense, self.num_classes, self.dropout, self.axis_name, self.dtype)(x, train)
    return x


class MLP(nn.Module):
  """The fully connected baseline for the lecture's CNN-vs-DNN comparison."""
  hidden: Sequence[int] = (300, 100)
  num_classes: int = 10
  dropout: float = 0.0
  axis_name: str | None = None  # As in ConvNet: for split-independent dropout masks.
  dtype: Any = None  # The compute dtype (config.dtype; None: the input's); params stay float32.

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.reshape((x.shape[0], -1))
    for width in self.hidden:
      x = nn.Dense(width, dtype=self.dtype)(x)
      x = nn.relu(x)
      if self.dropout:
        x = ExampleDropout(self.dropout, self.axis_name)(x, deterministic=not train)
    self.sow("intermediates", "features", full_precision(x))
    x = nn.Dense(self.num_classes, dtype=self.dtype)(x)
    return full_precision(x)
