"""2-D convolutions and max pooling with fast derivative rules on CPU: what every model uses.

XLA:CPU lowers the weight gradient of a convolution to a naive loop nest (measured on 2
cores: ~0.34 s for SeedCNN's second conv at batch 64, and ~1.9 s inside `lax.scan`), while
the forward conv and the input gradient use fast library kernels. The weight gradient is a
correlation of the input with the output gradient, which is the matmul `patches(x)^T @ g`
over all output positions (im2col); that takes ~0.03-0.08 s for the same layer.

The fast rules are custom JVPs, not custom VJPs, so every kind of autodiff works through the
models: reverse mode, forward mode (`jax.jvp`, `jax.jacfwd`) and gradients of gradients (as
WGAN-GP and R1 need). A convolution's tangent in w is written as the linear transpose of
the fast weight gradient, so reverse mode transposes it back into that matmul; the forward
pass and the input gradient are `lax.conv_general_dilated`'s own, so results match lax to
float32 rounding (tests/test_models.py).

Which implementation a model uses is its `conv` field, set from `config.conv`; the one that
ran is recorded in the run's config.json:

- "auto" (the default): on CPU "onednn" where it is built and loads, else "xla" (always
  "xla" on a GPU or TPU); `resolve` says which in one log line. oneDNN's kernels were the
  faster on every workload of benchmarks/run.py on an AVX-512 host (README);
- "xla": XLA's convolutions with the rules above on CPU (plain lax on other backends);
- "onednn": oneDNN's kernels for forward and both gradients (`gan_lab.models.onednn`, built
  by `make install`), reverse mode only: forward-mode autodiff through it raises JAX's
  "can't apply forward-mode autodiff (jvp) to a custom_vjp function"; use "xla" for that;
- "lax": plain `lax.conv_general_dilated` and `nn.max_pool`, the reference.
"""

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from absl import logging
from jax import lax
from jax.custom_derivatives import SymbolicZero

from gan_lab.core.errors import UserError
from gan_lab.models import onednn

IMPLEMENTATIONS = ("auto", "xla", "onednn", "lax")
_NHWC = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1),
                                 out_spec=(0, 3, 1, 2))


def check_implementation(name: str) -> str:
  """`name` if it is a convolution implementation that works here; else one sentence."""
  if name not in IMPLEMENTATIONS:
    raise UserError(f"config.conv {name!r} is not a convolution implementation; choose one "
                    f"of {', '.join(IMPLEMENTATIONS)}.")
  if name == "onednn" and not onednn.available():
    raise UserError("config.conv is 'onednn', but the oneDNN convolution is not built: run "
                    "`make install` (x86-64 Linux with g++), or set --config.conv=xla.")
  return name


@functools.cache
def _auto() -> str:
  if jax.default_backend() != "cpu":
    logging.info("gan_lab: the models' convolutions run on XLA's (%s).", jax.default_backend())
    return "xla"
  if onednn.available():
    logging.info("gan_lab: the models' convolutions run on oneDNN (config.conv=auto).")
    return "onednn"
  logging.info("gan_lab: the models' convolutions run on XLA's: the oneDNN convolution is not "
               "available here (`make install` builds it on x86-64 Linux with g++).")
  return "xla"


def resolve(name: str) -> str:
  """The implementation that `name` runs: "auto" is "onednn" where that is built and loads,
  else "xla" (said once, in one log line); any other name as `check_implementation`."""
  return _auto() if check_implementation(name) == "auto" else name


def for_restore(name: str) -> str:
  """The implementation to restore a run recorded with `name`: `name`, or "auto" for a run
  made on oneDNN where it is not built (the results agree to float32 rounding)."""
  if name == "onednn" and not onednn.available():
    logging.info("gan_lab: this run trained on oneDNN's convolutions, which are not built "
                 "here; it runs on XLA's.")
    return "auto"
  return name


def _lax_conv(x, w, strides, padding):
  return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=_NHWC)


def _with_gradients(conv, weight_grad_fn, input_grad_fn):
  """`conv(x, w, strides, padding)`, linear in x and in w, whose reverse-mode weight gradient
  is `weight_grad_fn(x, g, kernel_hw, strides, padding)` and input gradient
  `input_grad_fn(g, w, input_hw, strides, padding)`."""

  @functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
  def op(x, w, strides, padding):
    return conv(x, w, strides, padding)

  def jvp(strides, padding, primals, tangents):
    x, w = primals
    dx, dw = tangents
    y = op(x, w, strides, padding)

    def adjoint_of(grad_fn, tangent):
      # The tangent map is the adjoint of g -> grad_fn(g); reverse mode transposes it back,
      # so the gradient is grad_fn's.
      to_y = jax.linear_transpose(lambda g: grad_fn(g).astype(tangent.dtype),
                                  jax.ShapeDtypeStruct(y.shape, y.dtype))
      return to_y(tangent)[0]

    terms = []  # Symbolic zeros (x is data; w is fixed in an attack) cost nothing.
    if not isinstance(dx, SymbolicZero):
      terms.append(adjoint_of(
          lambda g: input_grad_fn(g, w, x.shape[1:3], strides, padding), dx))
    if not isinstance(dw, SymbolicZero):
      terms.append(adjoint_of(
          lambda g: weight_grad_fn(x, g, w.shape[:2], strides, padding), dw))
    return y, sum(terms[1:], terms[0])

  op.defjvp(jvp, symbolic_zeros=True)
  return op


def weight_grad(x, g, kernel_hw, strides, padding):
  """d(sum(conv(x, w) * g)) / dw for NHWC/HWIO as one matmul of input patches with `g`."""
  (kh, kw), (sh, sw) = kernel_hw, strides
  (plo_h, phi_h), (plo_w, phi_w) = padding
  x = jnp.pad(x, ((0, 0), (plo_h, phi_h), (plo_w, phi_w), (0, 0)))
  oh, ow = g.shape[1:3]
  patches = jnp.stack([
      lax.slice(x, (0, i, j, 0), (x.shape[0], i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1,
                                  x.shape[3]), (1, sh, sw, 1))
      for i in range(kh) for j in range(kw)
  ], axis=3)  # [B, oh, ow, kh*kw, C]
  cols = patches.reshape(-1, kh * kw * x.shape[3])
  return (cols.T @ g.reshape(-1, g.shape[3])).reshape(kh, kw, x.shape[3], g.shape[3])


def _input_grad(g, w, input_hw, strides, padding, lhs_dilation):
  """d(sum(y * g)) / dx for y the NHWC/HWIO correlation of x, dilated by `lhs_dilation` and
  padded by `padding`, with w at `strides`: the transpose as JAX derives it (strides and
  dilation swapped, the kernel flipped in space, in and out channels swapped), except that
  the channels are swapped by an explicit transpose. JAX's own rule swaps them in the
  dimension numbers instead (kernel "01oi"), which XLA:CPU runs as a naive loop inside a
  while loop or scan: SeedCNN's input gradient at batch 100 took 247 against 109 ms for 10
  steps in one, 100 ms with this rule (AMD EPYC, AVX-512). Attacks' loops and the training
  loop's scan both run it.
  """
  pads = []
  for size, k, s, d, (lo, _), out in zip(input_hw, w.shape[:2], strides, lhs_dilation,
                                         padding, g.shape[1:3]):
    before = k - 1 - lo
    pads.append((before, (size - 1) * d + k - (out - 1) * s - 1 - before))
  kernel = jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2)
  return lax.conv_general_dilated(g, kernel, lhs_dilation, pads, lhs_dilation=strides,
                                  dimension_numbers=_NHWC)


def input_grad(g, w, input_hw, strides, padding):
  """d(sum(conv(x, w) * g)) / dx (`_input_grad`)."""
  return _input_grad(g, w, input_hw, strides, padding, (1, 1))


_conv_im2col_grad = _with_gradients(_lax_conv, weight_grad, input_grad)


def _conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                          rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                          precision=None, *, impl: str, **kwargs):
  """`lax.conv_general_dilated` (as `nn.Conv` calls it) through implementation `impl`."""
  plain = (lhs.ndim == 4 and dimension_numbers == _NHWC and feature_group_count == 1
           and precision is None and not kwargs
           and all(d == 1 for d in (lhs_dilation or (1,)) + (rhs_dilation or (1,))))
  if impl == "lax" or not plain or jax.default_backend() != "cpu":
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count, precision=precision, **kwargs)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
  padding = tuple(tuple(int(p) for p in pair) for pair in padding)
  if impl == "onednn" and onednn.supports(lhs, rhs, padding):
    return onednn.conv(lhs, rhs, window_strides, padding)
  return _conv_im2col_grad(lhs, rhs, tuple(window_strides), padding)


# One function per implementation, made once: nn.Conv holds it as a (hashed) field.
_CONV_FNS = {impl: functools.partial(_conv_general_dilated, impl=impl)
             for impl in IMPLEMENTATIONS if impl != "auto"}  # Conv resolves "auto" first.


def Conv(*args, impl: str = "auto", **kwargs) -> nn.Conv:  # pylint: disable=invalid-name
  """`nn.Conv(*args, **kwargs)` (same parameters, names and outputs) computed by `impl`."""
  return nn.Conv(*args, conv_general_dilated=_CONV_FNS[resolve(impl)], **kwargs)


def _transpose_padding(k: int, s: int, padding: str) -> tuple[int, int]:
  """The padding of the dilated input that makes `lax.conv_transpose` match `padding`."""
  if padding == "SAME":
    total, before = k + s - 2, (k - 1 if s > k - 1 else -(-(k + s - 2) // 2))
  elif padding == "VALID":
    total, before = k + s - 2 + max(k - s, 0), k - 1
  else:
    raise ValueError(f"ConvTranspose padding must be 'SAME' or 'VALID'; got {padding!r}.")
  return before, total - before


def _lax_conv_transpose(x, w, strides, padding):
  return lax.conv_general_dilated(x, w, (1, 1), padding, lhs_dilation=strides,
                                  dimension_numbers=_NHWC)


def transpose_weight_grad(x, g, kernel_hw, strides, padding):
  """d(sum(conv_transpose(x, w) * g)) / dw as one matmul, without the zero-dilated input.

  The transposed conv correlates the zero-dilated, padded x with w. Output position o meets
  x[i] through tap k exactly when o + k = pad + stride * i, so the gradient of tap k is
  x^T @ g[pad - k + stride * i]: a strided slice of g per tap, stacked into one matmul.
  XLA:CPU computes it as a loop over the dilated input instead (~670 ms against ~20 ms for
  the DCGAN generator's first layer at batch 64).
  """
  (kh, kw), (sh, sw) = kernel_hw, strides
  (lo_h, _), (lo_w, _) = padding
  b, h, w, c = x.shape
  before = (max(0, kh - 1 - lo_h), max(0, kw - 1 - lo_w))
  after = (max(0, lo_h + sh * (h - 1) - (g.shape[1] - 1)),
           max(0, lo_w + sw * (w - 1) - (g.shape[2] - 1)))
  g = jnp.pad(g, ((0, 0), (before[0], after[0]), (before[1], after[1]), (0, 0)))
  taps = jnp.stack([
      lax.slice(g, (0, lo_h - i + before[0], lo_w - j + before[1], 0),
                (b, lo_h - i + before[0] + sh * (h - 1) + 1,
                 lo_w - j + before[1] + sw * (w - 1) + 1, g.shape[3]), (1, sh, sw, 1))
      for i in range(kh) for j in range(kw)], axis=3)  # [B, h, w, kh*kw, O]
  dw = x.reshape(-1, c).T @ taps.reshape(-1, kh * kw * g.shape[3])
  return dw.reshape(c, kh, kw, g.shape[3]).transpose(1, 2, 0, 3)


def transpose_input_grad(g, w, input_hw, strides, padding):
  """d(sum(conv_transpose(x, w) * g)) / dx (`_input_grad`): a strided correlation."""
  return _input_grad(g, w, input_hw, (1, 1), padding, strides)


_conv_transpose = _with_gradients(_lax_conv_transpose, transpose_weight_grad,
                                  transpose_input_grad)


class ConvTranspose(nn.Module):
  """`nn.ConvTranspose` in 2-D (NHWC; "SAME" or "VALID"; same parameters, names and outputs),
  with the weight gradient above on CPU for impl "xla" and "onednn" (which has no transposed
  kernel). "lax" and other backends use `lax`'s own derivatives."""
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: str = "SAME"
  use_bias: bool = True
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros_init()
  impl: str = "auto"
  dtype: Any = None  # Computes in it (None: the input's), as nn.ConvTranspose.

  @nn.compact
  def __call__(self, x):
    impl = resolve(self.impl)
    kernel = self.param("kernel", self.kernel_init,
                        (*self.kernel_size, x.shape[-1], self.features))
    pads = tuple(_transpose_padding(k, s, self.padding)
                 for k, s in zip(self.kernel_size, self.strides))
    x, kernel = nn.dtypes.promote_dtype(x, kernel, dtype=self.dtype)
    strides = tuple(self.strides)
    if jax.default_backend() != "cpu" or impl == "lax":
      y = _lax_conv_transpose(x, kernel, strides, pads)
    else:
      y = _conv_transpose(x, kernel, strides, pads)
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,)).astype(y.dtype)
    return y
