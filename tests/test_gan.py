import io
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from conftest import REPO, load_config_file, run_script, tiny_config
from gan_lab import data, models
from gan_lab.core.errors import UserError
from gan_lab.runs import loop, restore, sampling, workdirs, writers
from gan_lab.training import gan
from gan_lab.training.state import apply_train

TINY_DCGAN = os.path.join(REPO, "tests", "configs", "tiny_dcgan.py")


def n_params(model, shape):
  variables = model.init(jax.random.key(0), jnp.zeros((1, *shape)))
  return sum(x.size for x in jax.tree.leaves(variables["params"]))


def test_dense_gan_parameter_counts():
  assert n_params(models.DenseGenerator(image_shape=(28, 28, 1)), (30,)) == 136_634
  assert n_params(models.DenseDiscriminator(), (28, 28, 1)) == 132_951


@pytest.mark.parametrize("shape,g_features,d_features", [
    ((28, 28, 1), (128, 64), (64, 128)), ((32, 32, 3), (256, 128, 64), (64, 128, 256))])
def test_dcgan_shapes_and_guidelines(shape, g_features, d_features):
  g = models.DCGANGenerator(image_shape=shape, features=g_features)
  d = models.DCGANDiscriminator(features=d_features)
  z = jax.random.normal(jax.random.key(0), (3, 100))
  g_vars = g.init(jax.random.key(1), z)
  images = g.apply(g_vars, z)
  assert images.shape == (3, *shape)
  assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
  d_vars = d.init(jax.random.key(2), images)
  assert d.apply(d_vars, images).shape == (3,)
  # BatchNorm everywhere but G's output layer and D's input layer.
  assert len(g_vars["batch_stats"]) == len(g_features)
  assert len(d_vars["batch_stats"]) == len(d_features) - 1
  g_rows = [r.kind for r in models.layer_rows(g, (100,))]
  d_rows = [r.kind for r in models.layer_rows(d, shape)]
  assert g_rows.count("ConvTranspose") == len(g_features) and "Pool" not in g_rows
  assert d_rows.count("Conv") == len(d_features) and d_rows.count("Dense") == 1
  kernel = np.asarray(d_vars["params"]["Conv_1"]["kernel"])
  assert 0.015 < kernel.std() < 0.025  # N(0, 0.02) init.


def test_generator_shape_that_does_not_fit_the_data_is_one_sentence():
  config = load_config_file(TINY_DCGAN)
  config.gan.generator_kwargs.features = (16, 8, 4)  # 28 is not divisible by 8.
  with pytest.raises(UserError, match=r"generator's image_shape \(28, 28, 1\) is not divisible "
                     r"by 2\*\*len\(features\) = 8"):
    gan.init_state(config, jax.random.key(0), 10)


@pytest.fixture(scope="module")
def tiny_state():
  config = load_config_file(TINY_DCGAN)
  state = gan.init_state(config, jax.random.key(0), 10)
  real = jax.random.uniform(jax.random.key(1), (16, 28, 28, 1))
  return config, state, real


def _same(a, b) -> bool:
  """Whether two pytrees have one structure and bit-equal leaves."""
  return (jax.tree.structure(a) == jax.tree.structure(b) and bool(jax.tree.leaves(a))
          and all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b),
                                                       strict=True)))


def test_phase_one_changes_only_the_discriminator(tiny_state):
  config, state, real = tiny_state
  new, metrics = jax.jit(lambda s, r, k: gan.d_phase(s, r, k, config))(
      state, real, jax.random.key(2))
  assert _same(new.generator.params, state.generator.params)
  assert _same(new.generator.batch_stats, state.generator.batch_stats)
  assert not _same(new.discriminator.params, state.discriminator.params)
  # D(x) is D's view of the real batch before its update (training-mode BatchNorm).
  d = state.discriminator
  real_logits, _ = apply_train(d, d.params, real)
  np.testing.assert_allclose(metrics["d_real"], np.mean(jax.nn.sigmoid(real_logits)), rtol=1e-5)


def test_phase_two_changes_only_the_generator(tiny_state):
  config, state, _ = tiny_state
  new, _ = jax.jit(lambda s, k: gan.g_phase(s, 16, k, config))(state, jax.random.key(3))
  assert _same(new.discriminator.params, state.discriminator.params)
  assert _same(new.discriminator.batch_stats, state.discriminator.batch_stats)
  assert not _same(new.generator.params, state.generator.params)
  assert not _same(new.generator.batch_stats, state.generator.batch_stats)


def test_generator_and_discriminator_have_their_own_rates_and_schedules():
  """TTUR: with 2 D steps per G step and cosine schedules, D's schedule runs over its own
  updates, so D still learns in the run's second half (one schedule counted in G steps
  reached 0 halfway)."""
  config = load_config_file("dense_gan_mnist5k")
  config.gan.update(d_steps=2, g_lr_schedule="cosine", d_lr_schedule="cosine",
                    g_learning_rate=1e-4, d_learning_rate=1e-3)
  state = gan.init_state(config, jax.random.key(0), 4)
  step = jax.jit(gan.make_train_step(config))
  batch = {k: v[:32] for k, v in data.load("mnist5k", "train").items()}
  for i in range(4):
    before = state
    state, _ = step(state, batch, jax.random.key(i))
  # The last step's D updates are D's 7th and 8th of 8; G's is its 4th of 4.
  assert not _same(before.discriminator.params, state.discriminator.params)
  assert not _same(before.generator.params, state.generator.params)
  d_move = max(float(np.abs(a - b).max()) for a, b in zip(
      jax.tree.leaves(before.discriminator.params), jax.tree.leaves(state.discriminator.params),
      strict=True))
  g_move = max(float(np.abs(a - b).max()) for a, b in zip(
      jax.tree.leaves(before.generator.params), jax.tree.leaves(state.generator.params),
      strict=True))
  # Adam's steps are about the learning rate times the schedule: D's rate is 10x G's.
  assert d_move > 3 * g_move
  config.gan.d_learning_rate = 0.0
  with pytest.raises(UserError, match="config.gan.d_learning_rate must be positive; got 0.0"):
    gan.init_state(config, jax.random.key(0), 4)
  config.gan.d_learning_rate, config.gan.g_lr_schedule = 1e-3, "linear"
  with pytest.raises(UserError, match="Unknown config.gan.g_lr_schedule 'linear'"):
    gan.init_state(config, jax.random.key(0), 4)


def test_a_gan_run_from_before_ttur_still_restores(tmp_path):
  """config.json of a run from before TTUR: one learning rate and schedule for both nets."""
  config = load_config_file(TINY_DCGAN)
  config.update(num_steps=4, eval_every=4, checkpoint_every=4)
  loop.train_and_evaluate(config, str(tmp_path))
  path = tmp_path / "config.json"
  saved = json.loads(path.read_text())
  for key in ("g_learning_rate", "d_learning_rate", "g_lr_schedule", "d_lr_schedule"):
    del saved["gan"][key]
  saved.update(learning_rate=2e-4, lr_schedule="constant")
  path.write_text(json.dumps(saved))
  images = sampling.sample(str(tmp_path), num=3, seed=0)
  assert images.shape == (3, 28, 28, 1)


def test_hinge_with_label_smoothing_is_one_sentence():
  config = load_config_file("dense_gan_mnist5k")
  config.gan.update(loss="hinge", label_smoothing=0.1)
  with pytest.raises(UserError, match="'hinge' has no targets to smooth, so label_smoothing 0.1 "
                                      "would do nothing"):
    gan.init_state(config, jax.random.key(0), 4)


def test_losses_on_known_logits():
  real, fake = jnp.array([2.0, -1.0]), jnp.array([0.5, -3.0])
  sp = lambda x: np.log1p(np.exp(x))  # softplus: BCE(logit, 1) = sp(-x), BCE(logit, 0) = sp(x)
  expected = np.mean(sp(-np.array([2.0, -1.0]))) + np.mean(sp(np.array([0.5, -3.0])))
  assert float(gan.LOSSES["bce"].d(real, fake, 0.0)) == pytest.approx(expected, rel=1e-5)
  # One-sided smoothing: real targets 0.9.
  smooth = np.mean(0.9 * sp(-np.array([2.0, -1.0])) + 0.1 * sp(np.array([2.0, -1.0])))
  assert float(gan.LOSSES["bce"].d(real, fake, 0.1)) == pytest.approx(
      smooth + np.mean(sp(np.array([0.5, -3.0]))), rel=1e-5)
  assert float(gan.LOSSES["hinge"].d(real, fake, 0.0)) == pytest.approx(
      np.mean([0.0, 2.0]) + np.mean([1.5, 0.0]))
  assert float(gan.LOSSES["hinge"].g(fake)) == pytest.approx(1.25)
  assert float(gan.LOSSES["bce"].g(fake)) == pytest.approx(np.mean(sp(-np.array([0.5, -3.0]))),
                                                          rel=1e-5)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  """The tiny DCGAN trained 8 steps with the hinge loss and 2 D steps per G step."""
  workdir = tmp_path_factory.mktemp("gan")
  config = load_config_file(TINY_DCGAN)
  config.gan.loss, config.gan.d_steps = "hinge", 2
  return config, workdir, loop.train_and_evaluate(config, str(workdir))


def test_training_runs_and_samples_survive_a_restore(tiny_run):
  config, workdir, state = tiny_run
  assert int(state.step) == 8 and int(state.generator.step) == 8
  assert int(state.discriminator.step) == 16  # d_steps = 2
  assert os.path.exists(workdir / "samples" / "step_0000008.png")
  assert os.path.exists(workdir / "samples.png")
  a = sampling.sample(str(workdir), num=6, seed=1)
  b = sampling.sample(str(workdir), num=6, seed=1)
  c = sampling.sample(str(workdir), num=6, seed=2)
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  z = jax.random.normal(jax.random.key(1), (6, config.gan.codings))
  np.testing.assert_allclose(a, np.asarray(gan.generate(state, z)), rtol=1e-6, atol=1e-6)


def test_tensorboard_gets_each_evals_sample_grid(tiny_run):
  """TensorBoard shows the samples of each eval as an image, not only the scalars."""
  from tensorboard.backend.event_processing import event_accumulator
  config, workdir, state = tiny_run
  acc = event_accumulator.EventAccumulator(str(workdir / "tensorboard"),
                                           size_guidance={event_accumulator.IMAGES: 0})
  acc.Reload()
  (event,) = acc.Images("test_samples")  # eval_every = num_steps = 8: one eval.
  assert event.step == 8
  grid = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))
  assert grid.shape == (2 * 28, 8 * 28, 3)  # 16 samples, 8 to a row.
  samples = np.asarray(gan.generate(state, gan.fixed_codings(config, config.gan.num_grid)))
  np.testing.assert_allclose(grid[28:, 28:56, 0] / 255, samples[9, ..., 0], atol=1.5 / 255)
  assert "test_samples" not in writers.read_metrics(str(workdir))[-1]


def test_dense_gan_config_trains(tmp_path):
  config = load_config_file("dense_gan_mnist5k")
  config.update(num_epochs=1, num_steps=8, log_every=4, eval_every=8, checkpoint_every=8)
  state = loop.train_and_evaluate(config, str(tmp_path))
  records = writers.read_metrics(str(tmp_path))
  assert [r["step"] for r in records] == [4, 8]
  assert {"train_d_loss", "train_g_loss", "train_d_real", "train_d_fake",
          "train_d_grad_norm", "train_g_grad_norm"} <= set(records[-1])
  assert int(state.step) == 8


def test_sample_script_and_its_bad_input(tiny_run, tmp_path):
  _, run, _ = tiny_run
  out = run_script("sample.py", f"--workdir={run}", "--num_samples=5", "--seed=3",
                   "--out=grid.png", cwd=tmp_path)
  assert out.returncode == 0, out.stderr[-2000:]
  assert f"Wrote {tmp_path}/grid.png and {tmp_path}/grid.npy" in out.stdout  # Absolute.
  images = np.load(tmp_path / "grid.npy")
  assert images.shape == (5, 28, 28, 1) and images.dtype == np.float32
  np.testing.assert_array_equal(images, sampling.sample(str(run), num=5, seed=3))
  before = (tmp_path / "grid.png").read_bytes()
  again = run_script("sample.py", f"--workdir={run}", f"--out={tmp_path / 'grid.png'}")
  assert again.returncode == 2 and "exists; choose another --out" in again.stderr
  assert (tmp_path / "grid.png").read_bytes() == before

  # By default the grid goes inside the workdir, never over an earlier one.
  default = run_script("sample.py", f"--workdir={run}", "--num_samples=4", "--seed=5")
  assert default.returncode == 0, default.stderr[-2000:]
  assert f"Wrote {run}/sampled/seed5.png and {run}/sampled/seed5.npy" in default.stdout
  np.testing.assert_array_equal(np.load(run / "sampled" / "seed5.npy"),
                                sampling.sample(str(run), num=4, seed=5))
  with pytest.raises(UserError, match="seed5.png exists; choose another --out"):
    sampling.write_samples(str(run), str(run / "sampled" / "seed5.png"), num=4, seed=5)

  # A GAN workdir without a checkpoint, and a classifier workdir.
  empty = tmp_path / "empty"
  workdirs.prepare(str(empty), load_config_file(TINY_DCGAN))
  with pytest.raises(UserError, match="has no generator checkpoint yet"):
    sampling.sample(str(empty), num=2)
  classifier = tmp_path / "classifier"
  workdirs.prepare(str(classifier), tiny_config())
  with pytest.raises(UserError, match="holds a 'classifier' run, not a GAN"):
    restore.restore_generator(str(classifier))
