"""A Keras-style `model.summary()` for Linen models, with receptive fields of conv stacks."""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass
class LayerRow:
  name: str
  kind: str
  output_shape: tuple[int, ...]
  params: int
  receptive_field: int | None  # Input pixels one output unit sees (per side); None if global.
  jump: int | None             # Effective stride: input pixels between adjacent outputs.


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
    # Leaf layers only: the top-level model and its submodule containers are not rows.
    if context.method_name == "__call__" and mod.scope is not None and mod.scope.path:
      calls.append((mod, out))
    return out

  def init(x):
    with nn.intercept_methods(interceptor):
      return model.init(jax.random.key(0), x, **call_kwargs)

  calls.clear()
  variables = jax.eval_shape(init, jnp.zeros((1, *input_shape), jnp.float32))
  params = variables.get("params", {})

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
    rows.append(LayerRow("/".join(path), type(mod).__name__, tuple(out.shape[1:]),
                         n_params, rf, jump))
  return rows


def summary(model: nn.Module, input_shape, **call_kwargs) -> str:
  """The table as text: layer, output shape, parameters, receptive field, effective stride."""
  rows = layer_rows(model, input_shape, **call_kwargs)
  header = ("Layer", "Type", "Output shape", "Params", "Receptive field", "Eff. stride")
  lines = [header] + [
      (r.name, r.kind, str(r.output_shape), f"{r.params:,}",
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
