"""The GAN stabilisers of config.gan: losses, gradient penalties, spectral norm, the EMA of
G's weights, DiffAugment and PacGAN packing, and their bad input."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import REPO, load_config_file, run_script
from gan_lab import models
from gan_lab.core.errors import UserError
from gan_lab.models import onednn
from gan_lab.runs import loop, restore, sampling, writers
from gan_lab.training import diffaugment, gan, gan_losses
from gan_lab.training.state import TrainState, apply_train

TINY_DCGAN = os.path.join(REPO, "tests", "configs", "tiny_dcgan.py")
EPS32 = float(np.finfo(np.float32).eps)


def test_least_squares_and_wasserstein_losses_on_known_logits():
  real, fake = jnp.array([2.0, -1.0]), jnp.array([0.5, -3.0])
  ls, w = gan.LOSSES["least_squares"], gan.LOSSES["wasserstein"]
  # 0.5 * (mean((real - 1)^2) + mean(fake^2)); smoothing moves the real target to 0.9.
  assert float(ls.d(real, fake, 0.0)) == pytest.approx(0.5 * (2.5 + 4.625))
  assert float(ls.d(real, fake, 0.1)) == pytest.approx(0.5 * ((1.1**2 + 1.9**2) / 2 + 4.625))
  assert float(ls.g(fake)) == pytest.approx(0.5 * (0.25 + 16.0) / 2)
  assert float(w.d(real, fake, 0.0)) == pytest.approx(-1.25 - 0.5)
  assert float(w.g(fake)) == pytest.approx(1.25)


def test_penalties_and_their_gradients_match_the_closed_form_in_float64():
  """D(x) = <w, x> has grad_x D = w everywhere: R1 = |w|^2 / 2 with gradient w, and WGAN-GP
  = (|w| - 1)^2 with gradient 2 (|w| - 1) w / |w|, through the double backward pass."""
  with jax.enable_x64(True):
    w = jax.random.normal(jax.random.key(0), (4 * 3 * 2,), jnp.float64)
    real = jax.random.normal(jax.random.key(1), (5, 4, 3, 2), jnp.float64)
    fake = jax.random.normal(jax.random.key(2), (5, 4, 3, 2), jnp.float64)
    d_fn_of = lambda w: (lambda x: x.reshape(len(x), -1) @ w)
    norm = float(jnp.linalg.norm(w))
    for name, value, grad in [("r1", norm**2 / 2, w),
                              ("wgan-gp", (norm - 1) ** 2, 2 * (norm - 1) * w / norm)]:
      penalty = lambda w: gan_losses.PENALTIES[name](d_fn_of(w), real, fake, jax.random.key(3))
      assert float(penalty(w)) == pytest.approx(value, rel=1e-12)
      np.testing.assert_allclose(jax.grad(penalty)(w), grad, rtol=1e-10)


def _conv_paths():
  return ["lax", "xla"] + (["onednn"] if onednn.available() else [])


@pytest.mark.parametrize("spectral_norm", [False, True])
@pytest.mark.parametrize("penalty", ["r1", "wgan-gp"])
def test_penalty_gradients_agree_on_every_convolution_path(penalty, spectral_norm):
  """D's penalised loss differentiated twice through DCGAN's discriminator: XLA's and oneDNN's
  convolutions give plain lax's gradients up to float32 round-off."""
  real = jax.random.uniform(jax.random.key(0), (8, 28, 28, 1))
  fake = jax.random.uniform(jax.random.key(1), (8, 28, 28, 1))
  grads = {}
  for impl in _conv_paths():
    d = models.create("DCGANDiscriminator", conv=impl, dtype="float32", features=(8, 16),
                      spectral_norm=spectral_norm)
    state = TrainState.of(d, d.init(jax.random.key(2), real, train=False), optax.sgd(1.0))
    fn = gan_losses.PENALTIES[penalty]
    loss = lambda p: fn(lambda x: apply_train(state, p, x)[0], real, fake, jax.random.key(3))
    grads[impl] = jax.jit(jax.grad(loss))(state.params)
  reference = np.concatenate([np.ravel(g) for g in jax.tree.leaves(grads["lax"])])
  assert np.linalg.norm(reference) > 0
  for impl, g in grads.items():
    got = np.concatenate([np.ravel(x) for x in jax.tree.leaves(g)])
    # Each entry sums ~10^4 products (28x28 pixels x 16 taps) in another order: random-walk
    # round-off of about sqrt(10^4) eps, relative to the gradient's size.
    assert np.linalg.norm(got - reference) <= 100 * EPS32 * np.linalg.norm(reference), impl


def test_spectral_norm_estimates_the_largest_singular_value():
  d = models.create("DenseDiscriminator", conv="xla", dtype="float32", hidden=(12,),
                    spectral_norm=True)
  x = jnp.zeros((2, 4, 4, 1))
  variables = d.init(jax.random.key(0), x, train=False)
  for _ in range(30):  # One power iteration per training call.
    _, updates = d.apply(variables, x, train=True, mutable=["batch_stats"])
    variables = {**variables, **updates}
  kernel = np.asarray(variables["params"]["Dense_0"]["kernel"], np.float64)
  sigma = float(variables["batch_stats"]["SpectralNorm_0"]["Dense_0/kernel/sigma"])
  assert sigma == pytest.approx(np.linalg.svd(kernel, compute_uv=False)[0], rel=1e-4)
  # And the layer applies kernel / sigma: the logits equal a plain forward pass with it.
  x = jax.random.normal(jax.random.key(1), (3, 4, 4, 1))
  p = variables["params"]
  h = jax.nn.selu(x.reshape(3, -1) @ (p["Dense_0"]["kernel"] / sigma) + p["Dense_0"]["bias"])
  w1 = p["Dense_1"]["kernel"]
  out = h @ (w1 / np.linalg.norm(w1)) + p["Dense_1"]["bias"]  # A 12x1 matrix's sigma is |w|.
  np.testing.assert_allclose(d.apply(variables, x, train=False), out[:, 0], rtol=1e-4,
                             atol=1e-5)


def test_the_ema_is_the_debiased_average_of_gs_weights():
  config = load_config_file(TINY_DCGAN)
  config.gan.ema_decay = 0.9
  state = gan.init_state(config, jax.random.key(0), 10)
  step = jax.jit(gan.make_train_step(config))
  real = {"image": jnp.asarray(np.random.default_rng(0).integers(0, 256, (32, 28, 28, 1)),
                               jnp.uint8)}
  trajectory = []
  for i in range(3):
    state, _ = step(state, real, jax.random.key(i))
    trajectory.append(state.generator.params)
  weights = np.array([0.1 * 0.9**2, 0.1 * 0.9, 0.1]) / (1 - 0.9**3)
  expected = jax.tree.map(lambda *p: sum(w * x for w, x in zip(weights, p)), *trajectory)
  got = gan.generator_variables(state.generator, state.generator_ema, 0.9)["params"]
  for e, g in zip(jax.tree.leaves(expected), jax.tree.leaves(got), strict=True):
    np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-7)
  # The samples come from the average, not from the last weights.
  z = jnp.ones((2, config.gan.codings))
  raw = state.generator.apply_fn(state.generator.variables(), z, train=False)
  assert not np.allclose(gan.generate(state, z), raw)


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
  """The tiny DCGAN with every stabiliser on, trained 8 steps (checkpoints at 4 and 8)."""
  workdir = tmp_path_factory.mktemp("stabilised")
  config = load_config_file(TINY_DCGAN)
  config.gan.update(loss="least_squares", penalty="r1", penalty_weight=1.0, ema_decay=0.9,
                    augment="color,translation,cutout", pack=2, spectral_norm=True,
                    label_smoothing=0.1)
  return config, workdir, loop.train_and_evaluate(config, str(workdir))


def test_a_resumed_run_keeps_the_ema_exactly(ema_run, tmp_path):
  config, workdir, state = ema_run
  assert "train_d_penalty" in writers.read_metrics(str(workdir))[-1]
  half = config.copy_and_resolve_references()
  half.num_steps = 4
  loop.train_and_evaluate(half, str(tmp_path))
  resumed = loop.train_and_evaluate(config, str(tmp_path))
  for a, b in zip(jax.tree.leaves(state.generator_ema), jax.tree.leaves(resumed.generator_ema),
                  strict=True):
    np.testing.assert_array_equal(a, b)


def test_sampling_uses_the_ema_unless_told_otherwise(ema_run, tmp_path):
  config, workdir, state = ema_run
  z = jax.random.normal(jax.random.key(1), (4, config.gan.codings))
  ema = sampling.sample(str(workdir), num=4, seed=1)
  np.testing.assert_allclose(ema, gan.generate(state, z), rtol=1e-6, atol=1e-6)
  raw = sampling.sample(str(workdir), num=4, seed=1, weights="raw")
  np.testing.assert_allclose(raw, state.generator.apply_fn(state.generator.variables(), z,
                                                           train=False), rtol=1e-6, atol=1e-6)
  assert not np.allclose(ema, raw)
  out = run_script("sample.py", f"--workdir={workdir}", "--num_samples=4", "--seed=1",
                   "--weights=raw", f"--out={tmp_path / 'raw.png'}")
  assert out.returncode == 0, out.stderr[-2000:]
  np.testing.assert_array_equal(np.load(tmp_path / "raw.npy"), raw)


def test_asking_for_the_ema_of_a_run_without_one_is_one_sentence(tmp_path):
  config = load_config_file(TINY_DCGAN)
  config.num_steps = config.checkpoint_every = 4
  loop.train_and_evaluate(config, str(tmp_path))
  with pytest.raises(UserError, match="keeps no moving average of its generator's weights"):
    restore.restore_generator(str(tmp_path), weights="ema")
  # auto falls back to the raw weights there.
  np.testing.assert_array_equal(sampling.sample(str(tmp_path), num=2),
                                sampling.sample(str(tmp_path), num=2, weights="raw"))


def test_translation_and_cutout_move_and_blank_exact_pixels():
  image = jnp.zeros((1, 28, 28, 1)).at[0, 14, 10, 0].set(1.0)
  for seed in range(5):
    out = np.asarray(diffaugment.diff_augment(image, jax.random.key(seed), "translation"))
    ((_, y, x, _),) = np.argwhere(out)
    assert abs(y - 14) <= 4 and abs(x - 10) <= 4 and out.sum() == 1.0  # Shifted, not changed.
  ones = jnp.ones((16, 28, 28, 1))
  out = np.asarray(diffaugment.diff_augment(ones, jax.random.key(0), "cutout"))
  zeros = (out == 0).reshape(16, -1).sum(1)
  assert set(np.unique(out)) == {0.0, 1.0} and zeros.max() == 14 * 14 and zeros.min() > 0
  # Differentiable: the gradient of the cutout is its mask.
  grad = jax.grad(lambda x: jnp.sum(diffaugment.diff_augment(x, jax.random.key(0), "cutout")))(
      ones)
  np.testing.assert_array_equal(grad, out)


def test_color_is_an_affine_map_of_each_image():
  x = jax.random.uniform(jax.random.key(0), (3, 6, 6, 3))
  f = lambda x: diffaugment.diff_augment(x, jax.random.key(1), "color")
  y, y2, y0 = f(x), f(2 * x), f(jnp.zeros_like(x))
  # f(x) = A x + b per example, A linear: f(2x) - f(0) = 2 (f(x) - f(0)).
  np.testing.assert_allclose(y2 - y0, 2 * (y - y0), rtol=1e-5, atol=1e-5)
  assert not np.allclose(y, x)


def test_pacgan_stacks_consecutive_images_along_the_channels():
  config = load_config_file(TINY_DCGAN)
  config.gan.pack = 2
  images = jax.random.uniform(jax.random.key(0), (6, 28, 28, 1))
  packed = gan.d_inputs(images, jax.random.key(1), config)
  assert packed.shape == (3, 28, 28, 2)
  np.testing.assert_array_equal(packed[1, ..., 0], images[2, ..., 0])
  np.testing.assert_array_equal(packed[1, ..., 1], images[3, ..., 0])


@pytest.mark.parametrize("overrides,match", [
    (dict(loss="wgan"), "Unknown GAN loss 'wgan'"),
    (dict(penalty="gp"), "Unknown gradient penalty 'gp'"),
    (dict(augment="color,flip"), "Unknown augmentation 'flip' in config.gan.augment"),
    (dict(penalty="r1", penalty_weight=-1.0), "penalty_weight must be >= 0; got -1.0"),
    (dict(ema_decay=1.0), r"ema_decay must be in \[0, 1\)"),
    (dict(ema_decay=-0.1), r"ema_decay must be in \[0, 1\)"),
    (dict(d_learning_rate=0.0), "config.gan.d_learning_rate must be positive; got 0.0"),
    (dict(pack=3), "pack must be a whole number >= 1 dividing batch_size 32; got 3"),
    (dict(loss="wasserstein"), "'wasserstein' needs a Lipschitz discriminator"),
    (dict(loss="hinge", label_smoothing=0.1), "'hinge' has no targets to smooth"),
])
def test_bad_stabiliser_settings_fail_before_writing(tmp_path, overrides, match):
  config = load_config_file(TINY_DCGAN)
  config.gan.update(overrides)
  with pytest.raises(UserError, match=match):
    loop.train_and_evaluate(config, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run")


def test_a_runs_stabilisers_in_words():
  plain = load_config_file(TINY_DCGAN)
  stabilised = load_config_file(TINY_DCGAN)
  stabilised.gan.update(penalty="wgan-gp", ema_decay=0.99, pack=2, g_learning_rate=1e-3,
                        d_learning_rate=1e-3)
  assert gan.stabilisers(plain, plain) == []
  assert gan.stabilisers(stabilised, plain) == [
      "WGAN-GP (weight 10)", "EMA of G (0.99)", "PacGAN (pack 2)", "learning rate 0.001"]
  stabilised.gan.update(d_learning_rate=4e-3, d_steps=2)
  assert gan.stabilisers(stabilised)[-2:] == ["2 D steps per G step", "TTUR (G 0.001, D 0.004)"]
