"""config.dtype = "bfloat16": the models compute in bfloat16, while parameters, optimizer
state, losses and attacks stay float32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config_file
from gan_lab import attacks, data, inference, models
from gan_lab.core.config import classifier_config
from gan_lab.core.errors import UserError
from gan_lab.runs import loop
from gan_lab.training import classifier, gan

# bfloat16 keeps 8 significant bits: one rounding is up to 2**-9 relative.
BF16_EPS = 2.0**-8


def _float32_leaves(tree):
  return {leaf.dtype for leaf in jax.tree.leaves(tree) if jnp.issubdtype(leaf.dtype, jnp.floating)}


def _seed_cnn(dtype):
  config = classifier_config()
  config.dtype = dtype
  return classifier.init_state(config, jax.random.key(0), 10)


def test_bfloat16_computes_in_bfloat16_and_keeps_the_state_float32():
  fast, ref = _seed_cnn("bfloat16"), _seed_cnn("float32")
  assert _float32_leaves((fast.params, fast.opt_state)) == {jnp.dtype(jnp.float32)}
  x = jnp.asarray(inference.to_float(data.load("mnist5k", "test")["image"][:64]))
  hlo = jax.jit(inference.logits_fn(fast)).lower(x).as_text()
  assert "bf16" in hlo and "bf16" not in jax.jit(inference.logits_fn(ref)).lower(x).as_text()
  got, want = inference.logits_fn(fast)(x), inference.logits_fn(ref)(x)
  assert got.dtype == jnp.float32
  # Same parameters: the logits differ by bfloat16 rounding, far more than float32's (~1e-7)
  # and far less than the logits themselves.
  err = float(jnp.max(jnp.abs(got - want)) / jnp.max(jnp.abs(want)))
  assert 1e-4 < err < 10 * BF16_EPS, err
  loss, grads = jax.value_and_grad(lambda p: classifier.cross_entropy(jnp.zeros(64, int))(
      fast.apply_fn({"params": p}, x)))(fast.params)
  assert loss.dtype == jnp.float32 and _float32_leaves(grads) == {jnp.dtype(jnp.float32)}


def test_attacks_on_a_bfloat16_model_work_on_float32_inputs():
  fn, ref = (inference.logits_fn(_seed_cnn(dtype)) for dtype in ("bfloat16", "float32"))
  test = data.load("mnist5k", "test")
  x, y = jnp.asarray(inference.to_float(test["image"][:32])), jnp.asarray(test["label"][:32])
  for x_adv in (attacks.fgsm(fn, x, y, 0.1),
                attacks.pgd(fn, x, y, 0.1, num_steps=3, rng=jax.random.key(0))):
    assert x_adv.dtype == jnp.float32
    delta = np.abs(np.asarray(x_adv - x))
    assert delta.max() <= 0.1 + 1e-6 and 0 <= float(x_adv.min()) and float(x_adv.max()) <= 1
  # FGSM's step is the input gradient's sign: bfloat16 rounding flips it only where the
  # gradient is near zero, so the two models' steps agree almost everywhere they move.
  step, want = (np.sign(np.asarray(attacks.fgsm(f, x, y, 0.1) - x)) for f in (fn, ref))
  moved = want != 0
  assert moved.mean() > 0.1 and np.mean(step[moved] == want[moved]) > 0.9


def test_bfloat16_gan_losses_are_finite():
  config = load_config_file("dcgan_mnist5k")
  config.update(dtype="bfloat16", num_steps=4, log_every=2, batch_size=16)
  state = gan.init_state(config, jax.random.key(0), 4)
  step = gan.make_train_step(config)
  images = jnp.asarray(data.load("mnist5k", "train")["image"][:16])
  for i in range(2):
    state, metrics = jax.jit(step)(state, {"image": images, "label": jnp.zeros(16, int)},
                                   jax.random.key(i))
  assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
  assert _float32_leaves((state.generator.params, state.discriminator.params)) == {
      jnp.dtype(jnp.float32)}


def test_seed_cnn_mnist5k_in_bfloat16_is_within_a_point_of_float32(tmp_path):
  """The committed config, trained both ways (the same data order and initial weights)."""
  accuracy = {}
  for dtype in ("float32", "bfloat16"):
    config = load_config_file("seed_cnn_mnist5k")
    config.dtype = dtype
    state = loop.train_and_evaluate(config, str(tmp_path / dtype))
    test = data.load("mnist5k", "test")
    logits = inference.batched(inference.logits_fn(state), inference.to_float(test["image"]))
    accuracy[dtype] = float(np.mean(np.argmax(logits, -1) == test["label"]))
  assert accuracy["float32"] > 0.95, accuracy
  assert abs(accuracy["bfloat16"] - accuracy["float32"]) <= 0.01, accuracy


def test_an_unknown_dtype_is_one_sentence():
  with pytest.raises(UserError, match="config.dtype 'float16' is not a compute dtype; choose "
                     "one of float32, bfloat16."):
    models.create("SeedCNN", dtype="float16")
