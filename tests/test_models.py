import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from conftest import REPO, load_config_file
from gan_lab import models
from gan_lab.errors import UserError
from gan_lab.models import conv


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
  with pytest.raises(UserError, match="Bad arguments for model MLP"):
    models.create("MLP", widths=(3,))
  with pytest.raises(ValueError, match="padding"):
    models.ConvLayer(8, padding="FULL")


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


@pytest.mark.parametrize("stride,padding", [(1, "VALID"), (2, "SAME"), (1, ((2, 0), (1, 1)))])
def test_conv_gradients_equal_lax(stride, padding):
  kx, kw, kg = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (3, 9, 10, 4))
  w = jax.random.normal(kw, (3, 3, 4, 5))
  dn = lax.conv_dimension_numbers(x.shape, w.shape, ("NHWC", "HWIO", "NHWC"))
  ours = lambda x, w: conv.conv_general_dilated(x, w, (stride, stride), padding,
                                                dimension_numbers=dn)
  ref = lambda x, w: lax.conv_general_dilated(x, w, (stride, stride), padding,
                                              dimension_numbers=dn)
  y = ref(x, w)
  np.testing.assert_allclose(ours(x, w), y, rtol=1e-6)
  g = jax.random.normal(kg, y.shape)
  loss = lambda f: lambda x, w: jnp.sum(f(x, w) * g)
  ours_dx, ours_dw = jax.jit(jax.grad(loss(ours), argnums=(0, 1)))(x, w)
  ref_dx, ref_dw = jax.grad(loss(ref), argnums=(0, 1))(x, w)
  np.testing.assert_allclose(ours_dw, ref_dw, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(ours_dx, ref_dx, rtol=1e-4, atol=1e-4)
  assert float(jnp.abs(ref_dw).max()) > 1.0  # The check compares real, non-zero gradients.


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
  from gan_lab import parallel
  from gan_lab.training import experiments, loop
  runs = _runs(load_config_file(name))
  assert len(runs) == (7 if name == "tour" else 1)
  for config in runs:
    loop._validate(config, parallel.make_mesh())  # pylint: disable=protected-access
    experiment = experiments.get(config.experiment)
    state = jax.eval_shape(lambda: experiment.init_state(config, jax.random.key(0), 10))
    assert state.step.shape == ()


def test_tiled_max_pool_equals_flax_with_ties():
  from gan_lab.models import cnn
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
  for a, b in zip(jax.tree.leaves(variables), jax.tree.leaves(ours.init(jax.random.key(1), x))):
    np.testing.assert_array_equal(a, b)
  loss = lambda m: lambda v, x: jnp.sum(jnp.sin(m.apply(v, x)))
  expected = (flax_.apply(variables, x), jax.grad(loss(flax_), argnums=(0, 1))(variables, x))
  got = (ours.apply(variables, x), jax.grad(loss(ours), argnums=(0, 1))(variables, x))
  for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(a))))
