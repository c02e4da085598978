"""Linen models and the registry that configs name them through."""

import flax.linen as nn
import jax.numpy as jnp
from flax.core import FrozenDict

from gan_lab.core.errors import UserError
from gan_lab.core.registry import Registry
from gan_lab.models import conv as conv_impl
from gan_lab.models.cnn import MLP, ConvLayer, ConvNet, Pool, SeedCNN
from gan_lab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_lab.models.dense_gan import DenseDiscriminator, DenseGenerator
from gan_lab.models.summary import layer_rows, lecture_arithmetic, param_count, summary

# config.dtype: what the models compute in. Parameters, optimizer state, losses and attacks
# stay float32 (the models cast their outputs back).
DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}  # None: as the inputs (float32).

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


def create(name: str, conv: str = "auto", dtype: str = "float32", **kwargs) -> nn.Module:
  """The model `name` with `kwargs` (as written in a config), computing with `conv` in `dtype`.

  Built-in models take the convolution implementation `conv` and the compute dtype (float32
  or bfloat16; their parameters stay float32) as fields (models without them, such as a
  user's own, ignore them). The model holds no device axis: the
  training step sets it with `with_axis`, so a stored state restores and runs anywhere.
  """
  if dtype not in DTYPES:
    raise UserError(f"config.dtype {dtype!r} is not a compute dtype; choose one of "
                    f"{', '.join(DTYPES)}.")
  model = MODELS.lookup(name)
  fields = getattr(model, "__dataclass_fields__", None)
  if fields is not None:
    # conv and dtype come from config.conv and config.dtype, not from model_kwargs.
    known = {f for f in fields if f not in ("parent", "name", "conv", "dtype")}
    unknown = sorted(set(kwargs) - known)
    if unknown:
      raise UserError(f"Model {name} has no argument {', '.join(map(repr, unknown))}; its "
                      f"arguments are {', '.join(sorted(known)) or 'none'}.")
    if "conv" in fields:
      kwargs["conv"] = conv_impl.resolve(conv)
    if "dtype" in fields:
      kwargs["dtype"] = DTYPES[dtype]
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
