"""A Keras-style `model.summary()` for Linen models, with receptive fields of conv stacks."""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_lab.models.cnn import MLP, ConvLayer, ConvNet


@dataclasses.dataclass
class LayerRow:
  name: str
  kind: str
  output_shape: tuple[int, ...]
  params: int
  receptive_field: int | None  # Input pixels one output unit sees (per side); None if global.
  jump: int | None             # Effective stride: input pixels between adjacent outputs.
  connections: int = 0         # Input-output weight links; > params when weights are shared.


def _kernel_and_stride(module):
  if isinstance(module, nn.Conv):
    k, s = module.kernel_size, module.strides or 1
    return k[0], (s if isinstance(s, int) else s[0])
  if type(module).__name__ == "Pool":
    return module.window, module.stride or module.window
  return None


def layer_rows(model: nn.Module, input_shape, **call_kwargs) -> list[LayerRow]:
  """One row per leaf layer, in call order, from one traced init on a batch of 1."""
  calls = []

  def interceptor(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    mod = context.module
    if context.method_name == "__call__" and mod.scope is not None and mod.scope.path:
      calls.append((mod, out))
    return out

  def init(x):
    with nn.intercept_methods(interceptor):
      return model.init(jax.random.key(0), x, **call_kwargs)

  variables = jax.eval_shape(init, jnp.zeros((1, *input_shape), jnp.float32))
  params = variables.get("params", {})
  # Leaf layers only: a module whose path prefixes another's is a container, not a row.
  paths = [tuple(mod.scope.path) for mod, _ in calls]
  calls = [(mod, out) for (mod, out), path in zip(calls, paths)
           if not any(p[:len(path)] == path and p != path for p in paths)]

  rows, rf, jump = [], 1, 1
  for mod, out in calls:
    path = tuple(mod.scope.path)
    sub = params
    for key in path:
      sub = sub.get(key, {}) if isinstance(sub, dict) else {}
    n_params = sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(sub))
    ks = _kernel_and_stride(mod)
    if ks is not None and rf is not None:
      k, s = ks
      rf, jump = rf + (k - 1) * jump, jump * s
    elif isinstance(mod, nn.Dense):
      rf = jump = None  # Every output sees the whole input from here on.
    kernel = sub.get("kernel") if isinstance(sub, dict) else None
    links = 0
    if kernel is not None:  # Conv: every output position reuses the kernel; Dense: once.
      links = int(np.prod(kernel.shape)) * (
          int(np.prod(out.shape[1:-1])) if isinstance(mod, nn.Conv) else 1)
    rows.append(LayerRow("/".join(path), type(mod).__name__, tuple(out.shape[1:]),
                         n_params, rf, jump, links))
  return rows


def summary(model: nn.Module, input_shape, **call_kwargs) -> str:
  """The table as text: layer, output shape, parameters, receptive field, effective stride."""
  rows = layer_rows(model, input_shape, **call_kwargs)
  header = ("Layer", "Type", "Output shape", "Params", "Connections", "Receptive field",
            "Eff. stride")
  lines = [header] + [
      (r.name, r.kind, str(r.output_shape), f"{r.params:,}", f"{r.connections:,}",
       "global" if r.receptive_field is None else f"{r.receptive_field}x{r.receptive_field}",
       "-" if r.jump is None else str(r.jump))
      for r in rows
  ]
  widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
  fmt = lambda line: "  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
  rule = "-" * len(fmt(header))
  total = sum(r.params for r in rows)
  return "\n".join([f"{type(model).__name__} on input {tuple(input_shape)}", rule, fmt(header),
                    rule, *map(fmt, lines[1:]), rule, f"Total params: {total:,}"])


def param_count(params) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(params))


def lecture_arithmetic(image_side: int = 100, units: int = 1000, filters: int = 32) -> dict:
  """The lecture's count for a 100x100 grey image: a dense layer of 1,000 neurons has 10M
  connections, each its own weight; a 3x3 conv layer has far more connections than weights,
  because every output position shares the same kernel. Computed from the models."""
  shape = (image_side, image_side, 1)
  dense = layer_rows(MLP(hidden=(units,)), shape)[0]
  conv_layer = ConvLayer(filters, kernel=3, padding="VALID", pool="none")
  conv = layer_rows(ConvNet(layers=(conv_layer,), dense=()), shape)[0]
  return {"dense_params": dense.params, "dense_connections": dense.connections,
          "conv_params": conv.params, "conv_connections": conv.connections}
