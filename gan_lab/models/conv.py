"""A 2-D convolution whose weight gradient is one matmul on CPU: what every conv layer uses.

XLA:CPU lowers the weight gradient of a convolution to a naive loop nest (measured here on
2 cores: ~0.34 s for SeedCNN's second conv at batch 64, and ~1.9 s inside `lax.scan`),
while the forward conv and the input gradient use fast library kernels. The weight
gradient is a correlation of the input with the output gradient, which is the matmul
`patches(x)^T @ g` over all output positions (im2col); that takes ~0.03-0.08 s for the same
layer. Forward pass and input gradient stay `lax.conv_general_dilated`'s own, so results
match lax to float32 rounding; other backends and unusual convs use lax unchanged.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

_NHWC = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1),
                                 out_spec=(0, 3, 1, 2))


def _lax_conv(x, w, strides, padding):
  return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=_NHWC)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_im2col_grad(x, w, strides, padding):
  return _lax_conv(x, w, strides, padding)


def _fwd(x, w, strides, padding):
  return _lax_conv(x, w, strides, padding), (x, w)


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


def _bwd(strides, padding, residuals, g):
  x, w = residuals
  _, input_vjp = jax.vjp(lambda x: _lax_conv(x, w, strides, padding), x)
  dw = weight_grad(x, g, w.shape[:2], strides, padding).astype(w.dtype)
  return input_vjp(g)[0], dw


_conv_im2col_grad.defvjp(_fwd, _bwd)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         precision=None, **kwargs):
  """Drop-in for `lax.conv_general_dilated` (as `nn.Conv(conv_general_dilated=...)` calls it)."""
  plain = (lhs.ndim == 4 and dimension_numbers == _NHWC and feature_group_count == 1
           and precision is None and not kwargs
           and all(d == 1 for d in (lhs_dilation or (1,)) + (rhs_dilation or (1,))))
  if not plain or jax.default_backend() != "cpu":
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count, precision=precision, **kwargs)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
  return _conv_im2col_grad(lhs, rhs, tuple(window_strides),
                           tuple(tuple(int(p) for p in pair) for pair in padding))


# The conv layer every model here uses: nn.Conv with the weight gradient above.
Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)
