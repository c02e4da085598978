"""oneDNN's 2-D convolution on CPU, through the XLA FFI: what `config.conv = "onednn"` runs.

`conv(x, w, strides, padding)` computes `lax.conv_general_dilated(x, w, strides, padding,
dimension_numbers=('NHWC', 'HWIO', 'NHWC'))` for float32 and explicit non-negative padding,
with custom VJPs whose input and weight gradients are oneDNN's as well, to any order
(gradients of gradients too). Forward-mode autodiff (`jax.jvp`) is not available through
it: use config.conv = "xla" for that. The forward pass runs on the plain NHWC/HWIO buffers
(oneDNN 3.2's fast nhwc kernel); the gradients let oneDNN pick blocked memory formats (its nhwc gradients fall back to im2col + gemm, 1.4-2x slower)
and reorder to and from them. It works under jit, scan, shard_map (one call per device) and
vmap (`vmap_method="expand_dims"`: a batch of activations is folded into N).

The kernels are gan_lab/native/dnnl_conv.cc, built by `python -m gan_lab.native.build`.
Weight gradients sum in another order than XLA's (relative differences up to ~1e-5 on
large layers); everything else matches lax to float32 rounding (tests/test_onednn.py).
"""

import ctypes
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax import lax

from gan_lab.native import build

_TARGETS = {"fwd": "DnnlConvFwd", "bwd_data": "DnnlConvBwdData",
            "bwd_weights": "DnnlConvBwdWeights"}


@functools.cache
def _load() -> ctypes.CDLL | None:
  """Loads the library and registers its handlers with XLA, once; None if it is not built,
  does not load, or was built for another jax (said once, in the log)."""
  if not os.path.exists(build.LIBRARY):
    return None
  why = build.stale()
  if why is None:
    try:
      lib = ctypes.cdll.LoadLibrary(build.LIBRARY)
    except OSError as e:
      why = f"{build.LIBRARY} does not load ({e})"
  if why is not None:
    logging.warning("gan_lab: the oneDNN convolution is not used: %s; rebuild it with "
                    "`make install` (or python -m gan_lab.native.build).", why)
    return None
  for kind, symbol in _TARGETS.items():
    jax.ffi.register_ffi_target(f"gan_lab_dnnl_conv_{kind}",
                                jax.ffi.pycapsule(getattr(lib, symbol)), platform="cpu")
  lib.dnnl_conv_cache_size.restype = ctypes.c_int64
  return lib


def available() -> bool:
  return _load() is not None


def cache_size() -> int:
  """oneDNN primitives built so far (one per kind, shapes and attributes)."""
  return _load().dnnl_conv_cache_size()


def _varying(x) -> frozenset:
  """The shard_map axes over which x varies (empty outside shard_map)."""
  mat = getattr(jax.typeof(x), "manual_axis_type", None)
  return frozenset(mat.varying) if mat is not None else frozenset()


def _match_varying(*xs):
  """Makes every operand vary over the union of their axes, as lax's binary ops do.

  Under shard_map, an ffi_call's result carries only the axes we give it, and a custom_vjp's
  cotangents must have their primals' types: with x and w of one type the results take it
  too, and w's gradient is summed over devices by pcast's transpose.
  """
  axes = frozenset().union(*map(_varying, xs))
  return tuple(lax.pcast(x, tuple(sorted(axes - _varying(x))), to="varying")
               if axes - _varying(x) else x for x in xs)


def _call(kind, out_shape, a, b, strides, padding, blocked: bool):
  _load()
  aval = jax.typeof(a)
  if _varying(a):  # Inside shard_map: the result varies as the operands do.
    out = jax.ShapeDtypeStruct(out_shape, jnp.float32, manual_axis_type=aval.manual_axis_type,
                               sharding=jax.sharding.NamedSharding(aval.sharding.mesh, jax.P()))
  else:
    out = jax.ShapeDtypeStruct(out_shape, jnp.float32)
  return jax.ffi.ffi_call(f"gan_lab_dnnl_conv_{kind}", out, vmap_method="expand_dims")(
      a, b, strides=np.asarray(strides, np.int64),
      padding=np.asarray(padding, np.int64).reshape(4), blocked=np.int64(blocked))


def _out_shape(x_shape, w_shape, strides, padding):
  (sh, sw), ((plh, phh), (plw, phw)) = strides, padding
  return (x_shape[0], (x_shape[1] + plh + phh - w_shape[0]) // sh + 1,
          (x_shape[2] + plw + phw - w_shape[1]) // sw + 1, w_shape[3])


# The convolution y = conv(x, w) and its two gradients are bilinear, and each one's VJP is
# made of the other two, so gradients of gradients (WGAN-GP, R1) stay on oneDNN too:
#   <conv(x, w), g> = <x, data_grad(g, w)> = <w, weight_grad(x, g)>.
@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv(x, w, strides, padding):
  return _call("fwd", _out_shape(x.shape, w.shape, strides, padding), x, w, strides, padding,
               False)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _data_grad(g, w, strides, padding, x_shape):
  return _call("bwd_data", x_shape, g, w, strides, padding, True)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _weight_grad(x, g, strides, padding, w_shape):
  return _call("bwd_weights", w_shape, x, g, strides, padding, True)


def _conv_bwd(strides, padding, residuals, g):
  x, w = residuals
  return (_data_grad(g, w, strides, padding, x.shape),
          _weight_grad(x, g, strides, padding, w.shape))


def _data_grad_bwd(strides, padding, x_shape, residuals, c):
  g, w = residuals
  return _conv(c, w, strides, padding), _weight_grad(c, g, strides, padding, w.shape)


def _weight_grad_bwd(strides, padding, w_shape, residuals, c):
  x, g = residuals
  return _data_grad(g, c, strides, padding, x.shape), _conv(x, c, strides, padding)


_conv.defvjp(lambda x, w, s, p: (_conv(x, w, s, p), (x, w)), _conv_bwd)
_data_grad.defvjp(lambda g, w, s, p, shape: (_data_grad(g, w, s, p, shape), (g, w)),
                  _data_grad_bwd)
_weight_grad.defvjp(lambda x, g, s, p, shape: (_weight_grad(x, g, s, p, shape), (x, g)),
                    _weight_grad_bwd)


def supports(x, w, padding) -> bool:
  """Whether `conv` covers these operands: float32, 4-D, explicit non-negative padding."""
  return (x.ndim == 4 and w.ndim == 4 and x.dtype == jnp.float32 and w.dtype == jnp.float32
          and all(int(p) >= 0 for pair in padding for p in pair))


def conv(x, w, strides, padding):
  """NHWC x HWIO -> NHWC float32 conv; padding ((lo_h, hi_h), (lo_w, hi_w)), all >= 0."""
  x, w = _match_varying(x, w)
  return _conv(x, w, tuple(int(s) for s in strides),
               tuple(tuple(int(p) for p in pair) for pair in padding))
