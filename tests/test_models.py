import os

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO, load_config_file, tiny_config
from gan_lab import models, parallel
from gan_lab.core.errors import UserError
from gan_lab.models import cnn, conv, onednn
from gan_lab.runs import experiments, loop
from gan_lab.training import classifier

EPS32 = float(np.finfo(np.float32).eps)


def f32_tol(terms: int, scale: float) -> float:
  """A bound on float32 round-off in sums of `terms` products of size `scale`."""
  return terms * EPS32 * scale


def n_params(model, shape):
  variables = model.init(jax.random.key(0), jnp.zeros((1, *shape)))
  return sum(x.size for x in jax.tree.leaves(variables["params"]))


@pytest.mark.parametrize("shape,expected", [((32, 32, 3), 122_570), ((28, 28, 1), 93_322)])
def test_seed_cnn_parameter_count(shape, expected):
  assert n_params(models.SeedCNN(num_classes=10), shape) == expected


def test_mlp_parameter_count():
  # 784*300+300 + 300*100+100 + 100*10+10
  assert n_params(models.MLP(hidden=(300, 100)), (28, 28, 1)) == 266_610


def test_convnet_knobs_change_shapes_and_parameters():
  x = jnp.zeros((2, 28, 28, 1))
  layers = (
      {"filters": 8, "kernel": 5, "stride": 2, "padding": "SAME", "pool": "none"},
      {"filters": 16, "kernel": 3, "padding": "VALID", "pool": "avg", "batch_norm": True},
  )
  model = models.create("ConvNet", layers=layers, dense=(), num_classes=10)
  variables = model.init(jax.random.key(0), x)
  rows = models.layer_rows(model, (28, 28, 1))
  shapes = {r.name: r.output_shape for r in rows}
  assert shapes["Conv_0"] == (14, 14, 8)      # SAME, stride 2
  assert shapes["Conv_1"] == (12, 12, 16)     # VALID 3x3
  assert shapes["Pool_0"] == (6, 6, 16)       # avg pool 2
  assert variables["params"]["Conv_0"]["kernel"].shape == (5, 5, 1, 8)
  assert "bias" not in variables["params"]["Conv_1"]  # BatchNorm supplies the shift.
  assert set(variables["batch_stats"]["BatchNorm_0"]) == {"mean", "var"}
  assert model.apply(variables, x).shape == (2, 10)


def test_convnet_dropout_is_active_only_in_training():
  model = models.ConvNet(layers=({"filters": 4, "dropout": 0.5},), dense=(8,))
  x = jax.random.uniform(jax.random.key(1), (4, 28, 28, 1))
  variables = model.init(jax.random.key(0), x)
  eval1 = model.apply(variables, x, train=False)
  np.testing.assert_array_equal(eval1, model.apply(variables, x, train=False))
  train1 = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})
  assert not np.allclose(eval1, train1)


def test_bad_model_names_and_arguments():
  with pytest.raises(UserError, match="Unknown model 'ResNet'"):
    models.create("ResNet")
  with pytest.raises(UserError, match="Model MLP has no argument 'widths'; its arguments are "
                     "axis_name, dropout, hidden, num_classes"):
    models.create("MLP", widths=(3,))
  with pytest.raises(UserError, match="padding must be 'SAME' or 'VALID'; got 'FULL'"):
    models.ConvLayer(8, padding="FULL")
  with pytest.raises(UserError, match="A ConvLayer has no field 'filter'"):
    models.ConvNet(layers=({"filter": 8},)).init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
  with pytest.raises(UserError, match="config.conv 'cudnn' is not a convolution"):
    models.create("SeedCNN", conv="cudnn").init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))


class _BuggyModel(nn.Module):
  num_classes: int = 10

  @nn.compact
  def __call__(self, x, train: bool = False):
    return nn.Dense(self.num_classes)(x.reshape(len(x), -1)) / 0 + {}[x.shape[1]]


def test_a_bug_in_a_users_model_keeps_its_own_traceback():
  """The KeyError inside the model surfaces as itself, not as a sentence about kwargs."""
  models.MODELS.register("tests.BuggyModel", _BuggyModel)
  try:
    config = tiny_config(model="tests.BuggyModel")
    config.model_kwargs = {}
    with pytest.raises(KeyError) as info:
      classifier.init_state(config, jax.random.key(0), 1)
    assert not isinstance(info.value, UserError)
    assert any(entry.name == "__call__" for entry in info.traceback)
  finally:
    del models.MODELS["tests.BuggyModel"]


def test_summary_receptive_fields_of_the_seed_cnn():
  rows = {r.name: r for r in models.layer_rows(models.SeedCNN(), (32, 32, 3))}
  # conv3x3 -> 3; pool2 -> 4 (stride 2); conv -> 8; pool -> 10 (stride 4); conv -> 18.
  rf = {name: (r.receptive_field, r.jump) for name, r in rows.items()}
  assert rf == {"Conv_0": (3, 1), "Pool_0": (4, 2), "Conv_1": (8, 2), "Pool_1": (10, 4),
                "Conv_2": (18, 4), "Dense_0": (None, None), "Dense_1": (None, None)}
  # Weight sharing: conv1's 864 weights make 30*30*32 outputs of 27 inputs each.
  assert rows["Conv_0"].params == 896 and rows["Conv_0"].connections == 30 * 30 * 32 * 27
  assert rows["Dense_0"].connections == 1024 * 64
  text = models.summary(models.SeedCNN(), (32, 32, 3))
  assert "Conv_2   Conv   (4, 4, 64)    36,928  589,824      18x18" in text
  assert text.splitlines()[-1] == "Total params: 122,570"


@pytest.mark.parametrize("channels", [3, 8])
@pytest.mark.parametrize("stride,padding", [(1, "VALID"), (2, "SAME"), (1, ((2, 0), (1, 1))),
                                            (2, ((0, 2), (2, 1)))])
def test_conv_gradients_equal_lax(stride, padding, channels):
  """conv.Conv("xla") against plain lax: outputs, input and weight gradients (float32)."""
  kx, kg = jax.random.split(jax.random.key(0))
  x = jax.random.normal(kx, (3, 9, 10, channels))
  layer = lambda impl: conv.Conv(5, (3, 3), strides=stride, padding=padding, impl=impl)
  variables = layer("lax").init(jax.random.key(1), x)
  y = layer("lax").apply(variables, x)
  g = jax.random.normal(kg, y.shape)
  grads = lambda impl: jax.jit(jax.grad(lambda v, x: jnp.sum(layer(impl).apply(v, x) * g),
                                        argnums=(0, 1)))(variables, x)
  ours, ref = grads("xla"), grads("lax")
  scale = float(jnp.abs(x).max() * jnp.abs(g).max())
  chex.assert_trees_all_close(layer("xla").apply(variables, x), y, atol=f32_tol(9 * channels, 4.0))
  # dw sums over the batch's output positions, dx over the kernel's taps and filters.
  chex.assert_trees_all_close(ours[0], ref[0], atol=f32_tol(y.size // 5, scale))
  chex.assert_trees_all_close(ours[1], ref[1], atol=f32_tol(45, scale))
  assert float(jnp.abs(ref[1]).max()) > 1.0
  assert float(jnp.abs(ref[0]["params"]["kernel"]).max()) > 1.0  # Real, non-zero gradients.


# The models whose derivatives have custom rules, and a dense one for contrast.
AUTODIFF_MODELS = [("SeedCNN", {}), ("DCGANDiscriminator", {"features": (4, 8)}),
                   ("DenseDiscriminator", {"hidden": (16,)})]


def _as_float64(tree):
  return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)


@pytest.mark.parametrize("name,kwargs", AUTODIFF_MODELS)
def test_every_autodiff_mode_equals_lax_in_float64(name, kwargs):
  """jvp, forward-over-reverse and a gradient of a gradient (R1's penalty) through the
  custom rules equal plain lax's: a mathematical identity, so tested in float64."""
  with jax.enable_x64(True):
    fast, ref = (models.create(name, conv=impl, **kwargs) for impl in ("xla", "lax"))
    x = jax.random.uniform(jax.random.key(0), (3, 28, 28, 1), jnp.float64)
    v = jax.random.normal(jax.random.key(1), x.shape, jnp.float64)
    variables = _as_float64(ref.init(jax.random.key(2), x))
    out = lambda m: lambda params, x: jnp.sum(jnp.sin(m.apply({**variables, "params": params}, x)))
    r1 = lambda m: lambda params: jnp.sum(jax.grad(out(m), argnums=1)(params, x) ** 2)
    p = variables["params"]
    for what, f in {
        "jvp": lambda m: jax.jvp(lambda x: out(m)(p, x), (x,), (v,)),
        "hvp": lambda m: jax.jvp(lambda x: jax.grad(out(m), argnums=1)(p, x), (x,), (v,)),
        "r1_grad": lambda m: jax.grad(r1(m))(p),
    }.items():
      got, want = jax.jit(lambda: f(fast))(), f(ref)
      scale = max(float(jnp.abs(a).max()) for a in jax.tree.leaves(want))
      assert scale > 0, what
      chex.assert_trees_all_close(got, want, rtol=1e-9, atol=1e-11 * scale)


@pytest.mark.skipif(not onednn.available(), reason="the oneDNN convolution is not built")
def test_onednn_gradient_of_gradient_equals_lax():
  """R1's gradient through oneDNN's kernels (float32 only) against lax's; forward mode is
  refused by JAX there, as the conv docs say."""
  fast, ref = (models.create("DCGANDiscriminator", conv=impl, features=(4, 8))
               for impl in ("onednn", "lax"))
  x = jax.random.uniform(jax.random.key(0), (3, 28, 28, 1))
  variables = ref.init(jax.random.key(2), x)
  out = lambda m: lambda params, x: jnp.sum(jnp.sin(m.apply({**variables, "params": params}, x)))
  r1 = lambda m: lambda params: jnp.sum(jax.grad(out(m), argnums=1)(params, x) ** 2)
  got, want = jax.jit(jax.grad(r1(fast)))(variables["params"]), jax.grad(r1(ref))(
      variables["params"])
  scale = max(float(jnp.abs(a).max()) for a in jax.tree.leaves(want))
  chex.assert_trees_all_close(got, want, atol=f32_tol(28 * 28 * 3, scale))
  with pytest.raises(TypeError, match="forward-mode autodiff"):
    jax.jvp(lambda x: out(fast)(variables["params"], x), (x,), (x,))


def test_lecture_arithmetic_is_computed_from_the_models():
  a = models.lecture_arithmetic()
  assert a["dense_connections"] == 10_000_000           # 100*100 inputs x 1,000 neurons
  assert a["dense_params"] == 10_000_000 + 1000
  assert a["conv_params"] == 3 * 3 * 32 + 32
  assert a["conv_connections"] == 98 * 98 * 32 * 9       # Shared weights, many connections.


CONFIGS = sorted(f[:-3] for f in os.listdir(os.path.join(REPO, "experiments", "configs"))
                 if f.endswith(".py"))


def _runs(config) -> list:
  """The run configs in `config`: itself, or those nested in it (the tour's stages)."""
  if "experiment" in config:
    return [config]
  return [run for value in config.values() if hasattr(value, "values") for run in _runs(value)]


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_builds_its_state(name):
  """Shapes only (eval_shape): every shipped config names a valid experiment and settings."""
  runs = _runs(load_config_file(name))
  # The tour: 10 stage runs and the difficulties study's 8; the study: 4 pairs.
  assert len(runs) == {"tour": 18, "gan_difficulties": 8}.get(name, 1)
  for config in runs:
    loop._validate(config, parallel.make_mesh())  # pylint: disable=protected-access
    experiment = experiments.get(config.experiment)
    jax.eval_shape(lambda: experiment.init_state(config, jax.random.key(0), 10))


def test_tiled_max_pool_equals_flax_with_ties():
  x = jnp.round(jax.random.normal(jax.random.key(0), (4, 11, 11, 3)) * 2) / 2  # Many ties.
  pool = cnn.Pool("max", 2)
  loss = lambda f: lambda x: jnp.sum(f(x) ** 2)
  np.testing.assert_array_equal(pool.apply({}, x), nn.max_pool(x, (2, 2), (2, 2)))
  np.testing.assert_array_equal(jax.grad(loss(lambda x: pool.apply({}, x)))(x),
                                jax.grad(loss(lambda x: nn.max_pool(x, (2, 2), (2, 2))))(x))


@pytest.mark.parametrize("kernel,stride,padding,in_size,features", [
    (4, 2, "SAME", 7, 8), (4, 2, "SAME", 14, 1), (3, 2, "VALID", 5, 4), (5, 3, "SAME", 6, 2),
    (3, 1, "VALID", 6, 2), (1, 2, "SAME", 6, 2)])
def test_conv_transpose_equals_flax(kernel, stride, padding, in_size, features):
  """Same parameters from the same key, same outputs and gradients as nn.ConvTranspose."""
  x = jax.random.normal(jax.random.key(0), (4, in_size, in_size, 3))
  ours = conv.ConvTranspose(features, (kernel, kernel), strides=(stride, stride), padding=padding)
  flax_ = nn.ConvTranspose(features, (kernel, kernel), strides=(stride, stride), padding=padding)
  variables = flax_.init(jax.random.key(1), x)
  chex.assert_trees_all_equal(variables, ours.init(jax.random.key(1), x))
  loss = lambda m: lambda v, x: jnp.sum(jnp.sin(m.apply(v, x)))
  expected = (flax_.apply(variables, x), jax.grad(loss(flax_), argnums=(0, 1))(variables, x))
  got = (ours.apply(variables, x), jax.grad(loss(ours), argnums=(0, 1))(variables, x))
  # The weight gradient sums over every input position and batch element.
  terms = 4 * in_size * in_size * kernel * kernel
  chex.assert_trees_all_close(got, expected, atol=f32_tol(terms, 4.0))
