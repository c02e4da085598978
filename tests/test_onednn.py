"""The oneDNN convolution (config.conv = "onednn") against lax, and the models on it.

`make install` builds it wherever the onednn-cpu-gomp wheels install (x86-64 Linux); there
these tests run, and a library that was built but does not load fails them. Where it was
not built they are skipped, and the XLA convolution is all there is.
"""

import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from conftest import REPO, simulated_devices
from gan_lab.core.config import classifier_config
from gan_lab.core.errors import UserError
from gan_lab.models import conv, onednn
from gan_lab.native import build
from gan_lab.training import classifier

pytestmark = pytest.mark.skipif(not os.path.exists(build.LIBRARY), reason="oneDNN convolution "
                                "not built (python -m gan_lab.native.build)")


def test_the_built_library_loads():
  assert onednn.available(), f"{build.LIBRARY} was built but does not load"

DN = ("NHWC", "HWIO", "NHWC")
CASES = [  # x shape, w shape, strides, padding
    ((8, 32, 32, 3), (3, 3, 3, 32), (1, 1), ((0, 0), (0, 0))),    # SeedCNN conv1
    ((8, 15, 15, 32), (3, 3, 32, 64), (1, 1), ((0, 0), (0, 0))),  # conv2
    ((4, 16, 16, 8), (3, 3, 8, 8), (1, 1), ((1, 1), (1, 1))),     # SAME
    ((4, 32, 32, 3), (3, 3, 3, 16), (2, 2), ((0, 0), (0, 0))),    # stride 2, ragged
    ((2, 9, 11, 5), (5, 3, 5, 7), (1, 2), ((2, 0), (1, 1))),      # asymmetric everything
]


def _rel(a, b):
  return float(jnp.abs(a - b).max() / jnp.abs(b).max())


@pytest.mark.parametrize("xs,ws,strides,padding", CASES)
def test_values_and_both_gradients_match_lax(xs, ws, strides, padding):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal(xs), jnp.float32)
  w = jnp.asarray(rng.standard_normal(ws), jnp.float32)
  ref = lambda x, w: lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=DN,
                                              precision=lax.Precision.HIGHEST)
  y0, vjp0 = jax.vjp(ref, x, w)
  y1, vjp1 = jax.vjp(jax.jit(lambda x, w: onednn.conv(x, w, strides, padding)), x, w)
  g = jnp.asarray(rng.standard_normal(y0.shape), jnp.float32)
  for a, b in zip((y1, *vjp1(g)), (y0, *vjp0(g))):
    assert a.shape == b.shape and _rel(a, b) < 5e-5  # Weight grads sum in another order.


@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (0, 0)])
def test_vmap_over_images_weights_or_both(in_axes):
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.standard_normal((3, 2, 8, 8, 4)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((3, 3, 3, 4, 6)), jnp.float32)
  x, w = (x if in_axes[0] == 0 else x[0]), (w if in_axes[1] == 0 else w[0])
  pad = ((1, 0), (0, 1))
  loss = lambda fn: lambda x, w: jnp.sum(jnp.sin(jax.vmap(lambda x, w: fn(x, w, (1, 1), pad),
                                                          in_axes)(x, w)))
  ref = lambda x, w, s, p: lax.conv_general_dilated(x, w, s, p, dimension_numbers=DN)
  got = jax.jit(jax.value_and_grad(loss(onednn.conv), (0, 1)))(x, w)
  expected = jax.value_and_grad(loss(ref), (0, 1))(x, w)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
    assert _rel(a, b) < 1e-5


def test_seed_cnn_training_step_matches_the_xla_convolution():
  """Two SGD steps of the seed CNN in a jitted scan give the same losses and parameters."""
  rng = np.random.default_rng(0)
  batches = {"image": rng.integers(0, 256, (2, 32, 28, 28, 1), dtype=np.uint8),
             "label": rng.integers(0, 10, (2, 32)).astype(np.int32)}

  def run(impl):
    config = classifier_config()
    config.conv = impl
    state = classifier.init_state(config, jax.random.key(0), 2)
    step = classifier.make_train_step(config)

    def body(s, batch):
      s, metrics = step(s, batch, jax.random.key(1))
      return s, metrics["loss"]
    scan = jax.jit(lambda s, b: lax.scan(body, s, b))
    calls = scan.lower(state, batches).as_text().count("gan_lab_dnnl_conv_")
    return (*scan(state, batches), calls)

  xla_state, xla_losses, xla_calls = run("xla")
  dnn_state, dnn_losses, dnn_calls = run("onednn")
  # Three convs: forwards, weight gradients, and the input gradients of all but the first.
  assert xla_calls == 0 and dnn_calls == 3 + 3 + 2
  np.testing.assert_allclose(dnn_losses, xla_losses, rtol=1e-5)
  chex.assert_trees_all_close(dnn_state.params, xla_state.params, rtol=1e-4, atol=1e-6)


def test_bad_implementation_name_is_one_sentence():
  with pytest.raises(UserError, match="config.conv 'cudnn' is not a convolution "
                     "implementation; choose one of auto, xla, onednn, lax"):
    conv.check_implementation("cudnn")


def test_four_devices_give_the_one_device_numbers():
  """shard_map over 4 simulated devices: per-device oneDNN calls, gradients averaged."""
  script = """
import jax, numpy as np
from gan_lab import parallel
from gan_lab.core.config import classifier_config
from gan_lab.training import chunks, classifier
config = classifier_config()
config.model, config.conv = "SeedCNN", "onednn"
state = jax.device_get(classifier.init_state(config, jax.random.key(0), 2))  # Chunks donate.
rng = np.random.default_rng(0)
batches = {"image": rng.integers(0, 256, (2, 32, 28, 28, 1), dtype=np.uint8),
           "label": rng.integers(0, 10, (2, 32)).astype(np.int32)}
out = []
for n in (1, 4):
  mesh = parallel.make_mesh(jax.devices()[:n])
  chunk = chunks.make_train_chunk(classifier.make_train_step(config), mesh)
  s, m = chunk(jax.device_put(state, parallel.replicated(mesh)),
               jax.device_put(batches, parallel.sharded(mesh, batch_axis=1)),
               np.arange(2, dtype=np.int32), jax.random.key(1))
  out.append((np.asarray(m["loss"]), jax.device_get(s.params)))
np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5)
for a, b in zip(jax.tree.leaves(out[0][1]), jax.tree.leaves(out[1][1]), strict=True):
  np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
print("ok")
"""
  env = {**simulated_devices(4), "JAX_PLATFORMS": "cpu"}
  out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=300, env=env, cwd=REPO)
  assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def test_the_primitive_cache_keeps_only_the_most_recently_used():
  """DNNL_CONV_CACHE_SIZE=2: a third shape evicts the least recent one, which is rebuilt,
  with the right numbers, when it comes back."""
  script = """
import jax.numpy as jnp
from gan_lab.models import onednn
x = jnp.ones((2, 8, 8, 3))
for c in (4, 5, 6, 4, 6):
  y = onednn.conv(x, jnp.ones((3, 3, 3, c)), (1, 1), ((0, 0), (0, 0)))
  print(onednn.cache_size(), float(y.sum()))
"""
  out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       cwd=REPO, env={**os.environ, "DNNL_CONV_CACHE_SIZE": "2"}, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  rows = [line.split() for line in out.stdout.strip().splitlines()]
  assert [int(r[0]) for r in rows] == [1, 2, 2, 2, 2]
  assert [float(r[1]) for r in rows] == [27.0 * c * 2 * 6 * 6 for c in (4, 5, 6, 4, 6)]
