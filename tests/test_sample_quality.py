import json
import os

import jax
import numpy as np
import pytest

from conftest import load_config_file
from gan_lab import data, inference, sample_quality as sq
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


def _direct_kid(x, y):
  """The unbiased MMD^2 of the kernel (x.y / d + 1)^3, pair by pair (Binkowski et al. 2018)."""
  k = lambda u, v: (u @ v / x.shape[1] + 1.0) ** 3
  within = lambda z: sum(k(z[i], z[j]) for i in range(len(z)) for j in range(len(z))
                         if i != j) / (len(z) * (len(z) - 1))
  cross = sum(k(u, v) for u in x for v in y) / (len(x) * len(y))
  return within(x) + within(y) - 2.0 * cross


def test_kid_is_the_unbiased_mmd2_of_the_cubic_kernel(monkeypatch):
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(30, 4)), rng.normal(0.3, 1.2, size=(30, 4))
  # One subset of all 30 rows (the default 1,000 is capped at 30) is the full-sample estimate.
  for subsets in ({"num_subsets": 1, "subset_size": 30}, {}):
    mean, std = sq.kernel_inception_distance(x, y, **subsets)
    assert mean == pytest.approx(_direct_kid(x, y), rel=1e-12) and std == 0.0
  # Subsets of a larger set: each is the direct estimate on the rows it drew.
  mean, std = sq.kernel_inception_distance(x, np.concatenate([y, y + 1]), num_subsets=3,
                                           subset_size=10, seed=5)
  draws = np.random.default_rng(5)
  values = [_direct_kid(x[draws.choice(30, 10, replace=False)],
                        np.concatenate([y, y + 1])[draws.choice(60, 10, replace=False)])
            for _ in range(3)]
  assert (mean, std) == pytest.approx((np.mean(values), np.std(values)), rel=1e-12)
  # Sets too large for whole kernels get each subset's own: the same values.
  monkeypatch.setattr(sq, "_KERNEL_ROWS", 20)
  assert sq.kernel_inception_distance(x, np.concatenate([y, y + 1]), num_subsets=3,
                                      subset_size=10, seed=5) == pytest.approx((mean, std),
                                                                               rel=1e-12)
  monkeypatch.undo()
  # Unbiased: ~0 (well within its spread) for two samples of one distribution; a mean shift
  # shows, and more of it shows more.
  a, b = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
  same, spread = sq.kernel_inception_distance(a, b, num_subsets=50, subset_size=500)
  shifted = [sq.kernel_inception_distance(a, b + shift, num_subsets=50, subset_size=500)[0]
             for shift in (0.25, 0.5)]
  assert abs(same) < spread and 10 * spread < shifted[0] < shifted[1] / 3
  with pytest.raises(UserError, match="KID needs at least 2 feature rows in each set"):
    sq.kernel_inception_distance(x[:1], y)


@pytest.mark.parametrize("k,expected", [
    # real 0, 0.6, 2, 3, 10 and fake 0.5, 0.7, 20, 21 on a line. k = 1: real radii 0.6, 0.6,
    # 1, 1, 7 and fake radii 0.2, 0.2, 1, 1. Fake 0.5 is in the balls of 0 and 0.6, 0.7 in
    # that of 0.6, 20 and 21 in none: precision 2/4, density 3/4; the balls of 0 and 0.6 hold
    # a fake point: coverage 2/5; only real 0.6 is in a fake ball (0.5's): recall 1/5.
    (1, {"precision": 0.5, "recall": 0.2, "density": 0.75, "coverage": 0.4}),
    # k = 2: real radii 2, 1.4, 1.4, 2.4, 8; fake radii 19.5, 19.3, 19.3, 20.3. Fake 0.5 is
    # in 2 real balls, 0.7 in 4 (all but 10's), 20 and 21 in none: precision 2/4, density
    # 6 / (2 * 4); all real balls but 10's hold a fake point: coverage 4/5; every real
    # point is in a fake ball: recall 1.
    (2, {"precision": 0.5, "recall": 1.0, "density": 0.75, "coverage": 0.8}),
])
def test_precision_recall_density_coverage_on_points_on_a_line(k, expected):
  real, fake = np.array([0, 0.6, 2, 3, 10])[:, None], np.array([0.5, 0.7, 20, 21])[:, None]
  assert sq.precision_recall_density_coverage(real, fake, k) == pytest.approx(expected,
                                                                              abs=1e-12)


def test_precision_recall_density_coverage_follow_prdc_in_chunks(monkeypatch):
  rng = np.random.default_rng(1)
  real, fake = rng.normal(size=(300, 6)), rng.normal(0.5, 1.0, size=(200, 6))
  # The prdc package's formulas on whole distance matrices (k-th neighbour: the (k+1)-th
  # smallest distance, the point itself being the first).
  dist = lambda a, b: np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
  real_r, fake_r = (np.sort(dist(x, x), 1)[:, 5] for x in (real, fake))
  d = dist(real, fake)
  expected = {"precision": (d < real_r[:, None]).any(0).mean(),
              "recall": (d < fake_r[None]).any(1).mean(),
              "density": (d < real_r[:, None]).sum(0).mean() / 5,
              "coverage": (d.min(1) < real_r).mean()}
  monkeypatch.setattr(sq, "_CHUNK_ELEMENTS", 1000)  # Rows in chunks of 3 and 5.
  assert sq.precision_recall_density_coverage(real, fake) == pytest.approx(expected, abs=1e-12)
  # One set against itself: every point is in its own ball, and each ball holds the point
  # and its k - 1 nearest others (the k-th is on its border): density 1. Far apart: all 0.
  same = sq.precision_recall_density_coverage(real, real)
  assert same == pytest.approx({"precision": 1, "recall": 1, "density": 1, "coverage": 1})
  assert set(sq.precision_recall_density_coverage(real, fake + 100).values()) == {0.0}
  with pytest.raises(UserError, match="with k = 5 need more than 5 points in each set; got "
                                      "300 real and 5 generated"):
    sq.precision_recall_density_coverage(real, fake[:5])


def test_judge_sees_a_collapsed_generator(classifier_run):
  workdir, _ = classifier_run
  judge = restore.judge(workdir, "mnist5k")
  train = data.load("mnist5k", "train")
  real_scores = judge.real_baseline(train["image"][:1000])
  # A generator that always outputs the same digit.
  collapsed = judge(np.repeat(inference.to_float(train["image"][:1]), 1000, axis=0))
  assert real_scores["classes_covered"] == 10 and real_scores["class_kl"] < 0.1
  assert collapsed["classes_covered"] == 1
  assert collapsed["class_kl"] == pytest.approx(np.log(10), abs=0.05)
  assert collapsed["inception_score"] == pytest.approx(1.0, abs=1e-4)
  assert real_scores["inception_score"] > 5
  assert collapsed["classifier_fid"] > 10 * real_scores["classifier_fid"]
  assert collapsed["kid"] > 100 * abs(real_scores["kid"])
  # Subsets of 500 of the 1,000 samples and test digits: a spread, and the collapsed KID far
  # outside the real one's.
  assert real_scores["kid_std"] > 0 and collapsed["kid_std"] > 0
  assert (collapsed["kid"] - 3 * collapsed["kid_std"]
          > real_scores["kid"] + 3 * real_scores["kid_std"])
  for name in ("precision", "recall", "coverage"):
    assert real_scores[name] > 0.8, name
  assert 0.7 < real_scores["density"] < 1.3
  # One point repeated: every fake ball has radius 0, so no real digit is recalled, and one
  # point lies in few real balls.
  assert collapsed["recall"] == 0.0 and collapsed["coverage"] < 0.01
  logged = lambda scores: {"step": 100, "train_d_loss": 0.9,
                           **{f"test_{k}": v for k, v in scores.items()}}
  assert "cover only 1 of 10 classes" in sq.collapse_warnings([logged(collapsed)], 10)[0]
  assert sq.collapse_warnings([logged(real_scores)], 10) == []


def test_stacked_judge_reads_modes_channel_by_channel(classifier_run):
  workdir, _ = classifier_run
  judge = restore.judge(workdir, "stacked_mnist5k")
  assert isinstance(judge, sq.StackedJudge) and judge.num_modes == 1000
  test = inference.to_float(data.load("stacked_mnist5k", "test")["image"])
  # Each channel is judged by the digit classifier; the features are the three channels'.
  digit_judge = restore.judge(workdir, "mnist5k")
  probs, features = judge.predict(test[:8])
  for c in range(3):
    channel_probs, channel_features = digit_judge.predict(test[:8, ..., c:c + 1])
    np.testing.assert_array_equal(probs[:, c], channel_probs)
    width = channel_features.shape[1]
    np.testing.assert_array_equal(features[:, width * c:width * (c + 1)], channel_features)
  # The reference itself (10 test images of each mode): (nearly) every mode, a histogram
  # close to uniform (log 1000 = 6.9 is one mode), and the same feature distribution.
  real = judge(test)
  assert real["modes_covered"] > 990 and real["mode_kl"] < 0.1
  assert real["classifier_fid"] == pytest.approx(0.0, abs=1e-6)
  assert abs(real["kid"]) < real["kid_std"]
  assert (real["precision"], real["recall"], real["coverage"]) == (1.0, 1.0, 1.0)
  assert real["density"] == pytest.approx(1.0, abs=1e-3)  # Round-off on a ball's border.
  # A generator of one image: one mode, the one its channels' predicted digits spell.
  one = judge(np.repeat(test[:1], 1000, axis=0))
  assert one["modes_covered"] == 1 and one["mode_kl"] == pytest.approx(np.log(1000), rel=1e-12)
  channels = np.moveaxis(test[0], -1, 0)[..., None]  # Its red, green and blue digits.
  mode = np.argmax(digit_judge.predict(channels)[0], -1) @ [100, 10, 1]
  np.testing.assert_array_equal(np.flatnonzero(one["class_histogram"]), [mode])
  assert one["recall"] == 0.0 and one["coverage"] < 0.01


def test_a_dcgan_on_stacked_mnist5k_logs_its_modes(classifier_run, tmp_path):
  workdir, _ = classifier_run
  config = load_config_file("dcgan_stacked_mnist5k")
  config.update(num_steps=2, log_every=2, eval_every=0, checkpoint_every=0, batch_size=8)
  config.gan.generator_kwargs.features = (8, 4)
  config.gan.discriminator_kwargs.features = (4, 8)
  config.gan.update(classifier_workdir=workdir, num_eval_samples=50)
  loop.train_and_evaluate(config, str(tmp_path / "gan"))
  last = writers.read_metrics(str(tmp_path / "gan"))[-1]
  with open(tmp_path / "gan" / "samples" / "step_0000002.json") as f:
    histogram = np.array(json.load(f)["class_histogram"])
  # 50 samples over the 1,000 modes, as the logged count and KL say.
  assert histogram.shape == (1000,) and histogram.sum() == pytest.approx(1.0)
  assert last["test_modes_covered"] == np.sum(histogram > 0) <= 50
  seen = histogram[histogram > 0]
  assert last["test_mode_kl"] == pytest.approx(np.sum(seen * np.log(seen * 1000)), rel=1e-6)
  assert "test_classes_covered" not in last and last["test_kid"] > 0


def test_a_stacked_dataset_needs_a_judge_of_the_images_it_stacks(classifier_run):
  workdir, _ = classifier_run
  config, state, step = restore.restore_classifier(workdir)
  config.dataset = "fashion_mnist"
  restore_fn = lambda workdir: (config, state, step)
  with pytest.raises(UserError, match=r"^stacked_mnist5k needs a judge trained on mnist5k, the "
                                      r"images it stacks as its channels; the classifier in "
                                      r".* was trained on fashion_mnist, so pass a classifier "
                                      r"run on mnist5k as gan.classifier_workdir\.$"):
    restore.judge(workdir, "stacked_mnist5k", restore_fn=restore_fn)
  with pytest.raises(UserError, match="trained on fashion_mnist, not on mnist5k"):
    restore.judge(workdir, "mnist5k", restore_fn=restore_fn)
  with pytest.raises(UserError, match="holds no run; train a classifier on mnist5k there"):
    restore.judge(workdir + "_none", "stacked_mnist5k")


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
  # A StackedJudge's modes.
  [warning] = sq.collapse_warnings([{"test_modes_covered": 120, "test_mode_kl": 2.5}], 1000)
  assert "cover only 120 of 1000 modes (mode KL 2.50)" in warning
  assert sq.collapse_warnings([{"test_modes_covered": 501, "test_mode_kl": 0.7}], 1000) == []


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
  for name in ("classes_covered", "class_kl", "classifier_fid", "inception_score", "kid",
               "kid_std", "precision", "recall", "density", "coverage"):
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
