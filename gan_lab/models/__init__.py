"""Linen models and the registry that configs name them through."""

import flax.linen as nn
from flax.core import FrozenDict

from gan_lab.core.errors import UserError
from gan_lab.core.registry import Registry
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


def create(name: str, conv: str = "xla", **kwargs) -> nn.Module:
  """The model `name` with `kwargs` (as written in a config), computing with `conv`.

  Built-in models take the convolution implementation `conv` as a field (models without one,
  such as the dense ones or a user's own, ignore it). The model holds no device axis: the
  training step sets it with `with_axis`, so a stored state restores and runs anywhere.
  """
  model = MODELS.lookup(name)
  fields = getattr(model, "__dataclass_fields__", None)
  if fields is not None:
    known = {f for f in fields if f not in ("parent", "name")}
    unknown = sorted(set(kwargs) - known)
    if unknown:
      raise UserError(f"Model {name} has no argument {', '.join(map(repr, unknown))}; its "
                      f"arguments are {', '.join(sorted(known)) or 'none'}.")
    if "conv" in fields:
      kwargs["conv"] = conv
  return model(**{k: _hashable(v) for k, v in kwargs.items()})


def with_axis(model: nn.Module, axis_name: str | None) -> nn.Module:
  """`model` with BatchNorm and dropout running over device axis `axis_name`, for models
  that have an `axis_name` field; `model` itself otherwise (and for None)."""
  if axis_name is None or "axis_name" not in getattr(model, "__dataclass_fields__", {}):
    return model
  return model.clone(axis_name=axis_name)


__all__ = ["MLP", "MODELS", "ConvLayer", "ConvNet", "DCGANDiscriminator", "DCGANGenerator",
           "DenseDiscriminator", "DenseGenerator", "Pool", "SeedCNN", "create", "layer_rows",
           "lecture_arithmetic", "param_count", "summary", "with_axis"]
