"""Linen models and the registry that configs name them through."""

import flax.linen as nn
from flax.core import FrozenDict

from gan_lab.errors import UserError
from gan_lab.registry import Registry
from gan_lab.models.cnn import MLP, ConvLayer, ConvNet, Pool, SeedCNN
from gan_lab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_lab.models.dense_gan import DenseDiscriminator, DenseGenerator
from gan_lab.models.summary import layer_rows, lecture_arithmetic, param_count, summary

# Configs select a model with `config.model = "<name>"`: a name here, one added with
# `MODELS.register`, or "package.module:Class" of the user's own code (docs/extending.md).
MODELS = Registry("model", {
    "SeedCNN": SeedCNN, "ConvNet": ConvNet, "MLP": MLP,
    "DenseGenerator": DenseGenerator, "DenseDiscriminator": DenseDiscriminator,
    "DCGANGenerator": DCGANGenerator, "DCGANDiscriminator": DCGANDiscriminator,
})


def _hashable(value):
  """Config lists and dicts as tuples and FrozenDicts: jit hashes a model's attributes."""
  if isinstance(value, (list, tuple)):
    return tuple(_hashable(v) for v in value)
  if hasattr(value, "items"):
    return FrozenDict({k: _hashable(v) for k, v in value.items()})
  return value


def create(name: str, axis_name: str | None = None, **kwargs) -> nn.Module:
  """The model `name` with `kwargs` (as written in a config).

  `axis_name` is the device axis of the training step, for models that use it (BatchNorm
  across devices, split-independent dropout); models without such layers ignore it.
  """
  model = MODELS.lookup(name)
  if axis_name is not None and "axis_name" in getattr(model, "__dataclass_fields__", {}):
    kwargs["axis_name"] = axis_name
  try:
    return model(**{k: _hashable(v) for k, v in kwargs.items()})
  except (TypeError, ValueError) as e:
    raise UserError(f"Bad arguments for model {name}: {e}") from e


__all__ = ["MLP", "MODELS", "ConvLayer", "ConvNet", "DCGANDiscriminator", "DCGANGenerator",
           "DenseDiscriminator", "DenseGenerator", "Pool", "SeedCNN", "create", "layer_rows",
           "lecture_arithmetic", "param_count", "summary"]
