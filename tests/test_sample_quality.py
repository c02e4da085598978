import json
import os

import jax
import numpy as np
import pytest

from conftest import load_config_file
from gan_lab import data, sample_quality as sq
from gan_lab.core.errors import UserError
from gan_lab.runs import loop, restore, writers
from gan_lab.training import gan


def test_frechet_distance_on_known_gaussians():
  rng = np.random.default_rng(0)
  # Diagonal covariances: |mu_a - mu_b|^2 + sum (sqrt(a) - sqrt(b))^2.
  mu_a, mu_b = rng.normal(size=5), rng.normal(size=5)
  var_a, var_b = rng.uniform(0.1, 2, 5), rng.uniform(0.1, 2, 5)
  expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
  assert sq.frechet_distance((mu_a, np.diag(var_a)), (mu_b, np.diag(var_b))) == pytest.approx(
      expected, rel=1e-9)
  # Full covariances: against the general matrix square root.
  import scipy.linalg
  a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
  s_a, s_b = a @ a.T, b @ b.T
  expected = np.trace(s_a + s_b - 2 * scipy.linalg.sqrtm(s_a @ s_b).real)
  assert sq.frechet_distance((np.zeros(6), s_a), (np.zeros(6), s_b)) == pytest.approx(
      expected, rel=1e-6)
  # A singular covariance (dead ReLU units) against itself: 0, not NaN.
  s = np.diag([1.0, 0.0, 2.0])
  assert sq.frechet_distance((np.ones(3), s), (np.ones(3), s)) == pytest.approx(0.0, abs=1e-9)


def test_coverage_and_inception_score_on_known_predictions():
  uniform = np.full(10, 0.1)
  spread = np.eye(10)[np.arange(1000) % 10]
  cover = sq.class_coverage(spread, uniform)
  assert cover["classes_covered"] == 10 and cover["class_kl"] == pytest.approx(0.0, abs=1e-12)
  assert sq.inception_score(spread) == pytest.approx(10.0, rel=1e-6)
  one = np.eye(10)[np.full(1000, 3)]
  cover = sq.class_coverage(one, uniform)
  assert cover["classes_covered"] == 1 and cover["class_kl"] == pytest.approx(np.log(10))
  np.testing.assert_array_equal(cover["histogram"], np.eye(10)[3])
  assert sq.inception_score(one) == pytest.approx(1.0)
  # A class with under a quarter of its data share is not covered.
  labels = np.r_[np.zeros(500), np.ones(480), np.full(20, 2)].astype(int)
  assert sq.class_coverage(np.eye(3)[labels], np.array([0.4, 0.4, 0.2]))["classes_covered"] == 2


def test_judge_sees_a_collapsed_generator(classifier_run):
  workdir, _ = classifier_run
  judge = restore.judge(workdir, "mnist5k")
  train = data.load("mnist5k", "train")
  real = np.asarray(train["image"][:1000], np.float32) / 255.0
  real_scores = judge(real)
  # A generator that always outputs the same digit.
  collapsed = judge(np.repeat(real[:1], 1000, axis=0))
  assert real_scores["classes_covered"] == 10 and real_scores["class_kl"] < 0.1
  assert collapsed["classes_covered"] == 1
  assert collapsed["class_kl"] == pytest.approx(np.log(10), abs=0.05)
  assert collapsed["inception_score"] == pytest.approx(1.0, abs=1e-4)
  assert real_scores["inception_score"] > 5
  assert collapsed["classifier_fid"] > 10 * real_scores["classifier_fid"]
  logged = lambda scores: {"step": 100, "train_d_loss": 0.9,
                           **{f"test_{k}": v for k, v in scores.items()}}
  assert "cover only 1 of 10 classes" in sq.collapse_warnings([logged(collapsed)], 10)[0]
  assert sq.collapse_warnings([logged(real_scores)], 10) == []


def test_collapse_warnings_name_each_sign():
  healthy = {"train_d_loss": 1.0, "train_g_loss": 1.0}
  assert sq.collapse_warnings([healthy], 10) == []
  [warning] = sq.collapse_warnings([{**healthy, "train_d_loss": 0.01}], 10)
  assert "discriminator wins outright (D loss 0.01)" in warning
  # G loss swinging over the last 6 logs while the FID has not improved on its earlier best.
  swings = [{"train_d_loss": 1.0, "train_g_loss": g} for g in (1.0, 3.0, 1.0, 3.0, 1.0, 3.0)]
  for h, fid in zip(swings[2:], (50.0, 40.0, 45.0, 42.0)):
    h.update(test_classifier_fid=fid, test_classes_covered=9, test_class_kl=0.1)
  [warning] = sq.collapse_warnings(swings, 10)
  assert "oscillate (G loss 1.00 to 3.00)" in warning and "best 40" in warning
  swings[-1]["test_classifier_fid"] = 30.0  # Progress: no warning.
  assert sq.collapse_warnings(swings, 10) == []


def test_gan_run_logs_the_diagnostics_and_refuses_a_bad_judge(classifier_run, tmp_path):
  workdir, _ = classifier_run
  config = load_config_file("dense_gan_mnist5k")
  config.update(num_steps=8, log_every=4, eval_every=8, checkpoint_every=8)
  config.gan.update(classifier_workdir=workdir, num_eval_samples=200)
  state = loop.train_and_evaluate(config, str(tmp_path / "gan"))
  last = writers.read_metrics(str(tmp_path / "gan"))[-1]
  # The logged numbers are the judge's on the run's own evaluation codings (seed + 2).
  z = jax.random.normal(jax.random.key(config.seed + 2), (200, config.gan.codings))
  expected = restore.judge(workdir, "mnist5k")(np.asarray(gan.generate(state, z)))
  assert last["step"] == 8
  for name in ("classes_covered", "class_kl", "classifier_fid", "inception_score"):
    assert last[f"test_{name}"] == pytest.approx(expected[name], rel=1e-4, abs=1e-6), name
  with open(tmp_path / "gan" / "samples" / "step_0000008.json") as f:
    np.testing.assert_allclose(json.load(f)["class_histogram"], expected["class_histogram"],
                               atol=1e-9)

  # The judge must be a classifier run on the same dataset; nothing is written otherwise.
  config.gan.classifier_workdir = str(tmp_path / "gan")
  with pytest.raises(UserError, match="holds a 'gan' run, not a classifier"):
    loop.train_and_evaluate(config, str(tmp_path / "other"))
  config.gan.classifier_workdir = str(tmp_path / "nothing")
  with pytest.raises(UserError, match="holds no run; train a classifier on mnist5k"):
    loop.train_and_evaluate(config, str(tmp_path / "other"))
  assert not os.path.exists(tmp_path / "other")
