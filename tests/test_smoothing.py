import json
import math
import os
import statistics
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config_file, run_script, simulated_devices, tiny_config
from gan_lab import data, inference, smoothing
from gan_lab.core.config import smoothing_config
from gan_lab.core.errors import UserError
from gan_lab.runs import loop, writers
from gan_lab.studies import certification
from gan_lab.training import classifier

SIGMA, THRESHOLD = 0.25, 0.5
PHI_INV = statistics.NormalDist().inv_cdf  # The standard library's, not scipy's.


def always_3(x):
  """Class 3 of 5 whatever the input: p_A = 1."""
  return jnp.tile(jax.nn.one_hot(3, 5), (len(x), 1))


def threshold(x):
  """Class 1 when pixel (0, 0) is above THRESHOLD, else 0: with that pixel at v, p_1 is
  Phi((v - THRESHOLD) / sigma)."""
  above = x[:, 0, 0, 0] > THRESHOLD
  return jnp.stack([jnp.zeros(len(x)), jnp.where(above, 1.0, -1.0)], -1)


def images(*pixels):
  """4x4 grey images whose pixel (0, 0) is each of `pixels`."""
  x = np.full((len(pixels), 4, 4, 1), 0.5, np.float32)
  x[:, 0, 0, 0] = pixels
  return jnp.asarray(x)


def counts_above(x, rng, draw: int, n: int) -> np.ndarray:
  """How many of the n noisy copies of each example of `x` have pixel (0, 0) above THRESHOLD,
  from the documented keys: example i's selection (draw 0) or certifying (draw 1) noise comes
  from fold_in(fold_in(rng, i), draw), its s-th copy from that folded with s."""
  counts = []
  for i in range(len(x)):
    key = jax.random.fold_in(jax.random.fold_in(rng, i), draw)
    noise = np.asarray(jax.vmap(lambda s, key=key: jax.random.normal(
        jax.random.fold_in(key, s), x.shape[1:]))(jnp.arange(n)))
    counts.append(int(np.sum(np.asarray(x[i, 0, 0, 0]) + SIGMA * noise[:, 0, 0, 0] >
                             THRESHOLD)))
  return np.array(counts)


def clopper_pearson_lower(k: int, n: int, alpha: float) -> float:
  """The p at which P(X >= k; n, p) = alpha, by bisection on the exact binomial tail."""
  j = np.arange(k, n + 1)
  log_comb = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                       for i in j])
  tail = lambda p: np.exp(log_comb + j * np.log(p) + (n - j) * np.log1p(-p)).sum()
  low, high = 0.0, 1.0
  for _ in range(100):
    mid = (low + high) / 2
    low, high = (mid, high) if tail(mid) < alpha else (low, mid)
  return low


def test_a_model_that_ignores_the_noise_gets_the_largest_radius_n_allows():
  n, alpha = 500, 0.001
  classes, radii = smoothing.certify(always_3, images(0.1, 0.9), sigma=0.5, n0=10, n=n,
                                     alpha=alpha, batch_size=64, rng=jax.random.key(0))
  # All n samples are class 3: the bound is alpha^(1/n), where P(X >= n; n, p) = p^n = alpha.
  np.testing.assert_array_equal(classes, [3, 3])
  np.testing.assert_allclose(radii, 0.5 * PHI_INV(alpha ** (1 / n)), rtol=1e-9)
  assert clopper_pearson_lower(n, n, alpha) == pytest.approx(alpha ** (1 / n), rel=1e-9)


def test_certified_radius_is_sigma_times_phi_inverse_of_the_clopper_pearson_bound():
  n, alpha = 1000, 0.001
  # p_1 = Phi(1) = 0.84 (certified), and 0.5 (abstains).
  x = images(THRESHOLD + SIGMA, THRESHOLD)
  rng = jax.random.key(7)
  classes, radii = smoothing.certify(threshold, x, sigma=SIGMA, n0=100, n=n, alpha=alpha,
                                     batch_size=128, rng=rng)
  counts = counts_above(x, rng, 1, n)
  assert 800 < counts[0] < 880 and 440 < counts[1] < 560  # Near n * p.
  p_lower = clopper_pearson_lower(counts[0], n, alpha)
  assert classes[0] == 1 and radii[0] == pytest.approx(SIGMA * PHI_INV(p_lower), rel=1e-6)
  assert clopper_pearson_lower(counts[1], n, alpha) < 0.5
  assert classes[1] == smoothing.ABSTAIN and radii[1] == 0.0
  np.testing.assert_allclose(smoothing.lower_confidence_bound(counts, n, alpha),
                             [clopper_pearson_lower(k, n, alpha) for k in counts], rtol=1e-6)
  assert smoothing.lower_confidence_bound(0, n, alpha) == 0.0


def test_the_class_is_picked_by_the_n0_selection_samples_alone():
  # n0 = 1 at p_1 = 0.84: where the one selection sample says 0, the n samples (mostly 1)
  # cannot certify it, and the smoothed classifier abstains.
  x = images(*[THRESHOLD + SIGMA] * 20)
  rng = jax.random.key(2)
  classes, _ = smoothing.certify(threshold, x, sigma=SIGMA, n0=1, n=200, batch_size=64,
                                 rng=rng)
  picked = counts_above(x, rng, 0, 1)
  assert 0 < picked.sum() < len(x)
  np.testing.assert_array_equal(classes, np.where(picked == 1, 1, smoothing.ABSTAIN))


def test_predict_abstains_on_a_tie_and_answers_when_one_class_dominates():
  # p_1 = 0.5, Phi(2) = 0.98 and Phi(-2) = 0.02.
  x = images(THRESHOLD, THRESHOLD + 2 * SIGMA, THRESHOLD - 2 * SIGMA)
  predicted = smoothing.predict(threshold, x, sigma=SIGMA, n=1000, alpha=0.001, batch_size=256,
                                rng=jax.random.key(0))
  np.testing.assert_array_equal(predicted, [smoothing.ABSTAIN, 1, 0])
  assert smoothing.predict(always_3, x[:1], sigma=SIGMA, n=20, rng=jax.random.key(0)) == 3


def test_results_do_not_depend_on_batch_size_or_on_how_examples_are_batched():
  rng = np.random.default_rng(0)
  w = jnp.asarray(rng.normal(size=(36, 4)), jnp.float32)
  linear = lambda x: x.reshape(len(x), -1) @ w
  x = jnp.asarray(rng.uniform(size=(5, 6, 6, 1)), jnp.float32)
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(3), i))(jnp.arange(len(x)))
  results = [smoothing.certify(linear, x, sigma=0.5, n0=30, n=300, batch_size=b, rng=keys)
             for b in (7, 300)]
  for classes, radii in results[1:]:
    np.testing.assert_array_equal(classes, results[0][0])
    np.testing.assert_array_equal(radii, results[0][1])
  assert len(set(results[0][0])) > 1  # The examples differ, so the check means something.
  classes, radii = smoothing.certify(linear, x[2:], sigma=0.5, n0=30, n=300, batch_size=7,
                                     rng=keys[2:])
  np.testing.assert_array_equal(classes, results[0][0][2:])
  np.testing.assert_array_equal(radii, results[0][1][2:])
  # One key: example i's key is fold_in(rng, i), as given per example above.
  np.testing.assert_array_equal(
      smoothing.class_counts(linear, x, sigma=0.5, n=100, batch_size=16, rng=jax.random.key(3)),
      smoothing.class_counts(linear, x, sigma=0.5, n=100, batch_size=100, rng=keys))


@pytest.mark.parametrize("kwargs, match", [
    ({"sigma": 0.0}, r"^sigma must be > 0; got 0.0\.$"),
    ({"sigma": -0.5}, r"^sigma must be > 0; got -0.5\.$"),
    ({"n0": 200, "n": 100}, r"^n0 \(200\) must be at most n \(100\)"),
    ({"n": 0, "n0": 0}, r"^n must be an integer >= 1; got 0\.$"),
    ({"n0": 0}, r"^n0 must be an integer >= 1; got 0\.$"),
    ({"n": 2.5}, r"^n must be an integer >= 1; got 2.5\.$"),
    ({"alpha": 0.0}, r"^alpha must be in \(0, 1\); got 0.0\.$"),
    ({"alpha": 1.0}, r"^alpha must be in \(0, 1\); got 1.0\.$"),
    ({"batch_size": 0}, r"^batch_size must be an integer >= 1; got 0\.$"),
    ({"x": images(0.5) * 255}, r"outside bounds \(0.0, 1.0\); scale them"),
    ({"rng": jax.random.split(jax.random.key(0), 3)}, r"^rng holds 3 keys for 1 examples"),
])
def test_bad_arguments_are_one_sentence(kwargs, match):
  args = {"x": images(0.5), "sigma": SIGMA, "n0": 10, "n": 20, "alpha": 0.001,
          "batch_size": 8, "rng": jax.random.key(0), **kwargs}
  with pytest.raises(UserError, match=match):
    smoothing.certify(always_3, **args)
  if "n0" not in kwargs:
    del args["n0"]
    with pytest.raises(UserError, match=match):
      smoothing.predict(always_3, **args)


def noisy_config(sd, **overrides):
  config = smoothing_config()
  config.update(tiny_config(**overrides).to_dict())
  config.gaussian_noise_sd = sd
  return config


def test_the_noise_changes_the_training_batch_only():
  batch = {k: v[:32] for k, v in data.load("mnist5k", "train").items()}
  clean = inference.to_float(batch["image"])
  rng = jax.random.key(1)
  noisy = classifier.train_images(noisy_config(0.5), batch["image"], rng)
  delta = np.asarray(noisy - clean)
  assert abs(delta.std() - 0.5) < 0.01 and abs(delta.mean()) < 0.01
  assert noisy.min() < -0.5 and noisy.max() > 1.5  # Not clipped, as the reference.
  # Per example: the first 8 rows are the same in a batch of 8.
  np.testing.assert_array_equal(
      classifier.train_images(noisy_config(0.5), batch["image"][:8], rng), noisy[:8])
  np.testing.assert_array_equal(
      classifier.train_images(noisy_config(0.0), batch["image"], rng), clean)
  # The step: with sd 0 (or a config without the field) as before; with noise another loss.
  config = tiny_config()
  state = classifier.init_state(config, jax.random.key(0), 10)
  losses = [float(jax.jit(classifier.make_train_step(c))(state, batch, rng)[1]["loss"])
            for c in (config, noisy_config(0.0), noisy_config(0.5))]
  assert losses[0] == losses[1] != losses[2]


_NOISE_ON_FOUR_DEVICES = """
import jax, numpy as np
from gan_lab import parallel
from gan_lab.core.config import smoothing_config
from gan_lab.training import classifier
assert jax.device_count() == 4
images = np.random.default_rng(0).integers(0, 256, (16, 28, 28, 1), np.uint8)
noisy = lambda x: (classifier.train_images(smoothing_config(), x, jax.random.key(1),
                                           parallel.AXIS),)
split = jax.jit(parallel.data_parallel(noisy, parallel.make_mesh(), (0,), (0,)))(images)[0]
whole = classifier.train_images(smoothing_config(), images, jax.random.key(1))
np.testing.assert_allclose(split, whole, atol=1e-6)  # Other noise would differ by ~0.5.
print("equal")
"""


def test_the_training_noise_does_not_depend_on_the_device_split():
  out = subprocess.run([sys.executable, "-c", _NOISE_ON_FOUR_DEVICES], capture_output=True,
                       text=True, timeout=300, env=simulated_devices(4))
  assert out.returncode == 0 and out.stdout.strip() == "equal", out.stderr[-3000:]


def test_the_smoothing_config_trains_and_evaluates_on_clean_images(tmp_path):
  config = load_config_file("smooth_cnn_mnist5k")
  assert config.gaussian_noise_sd > 0
  config.update(num_steps=4, log_every=2, eval_every=0, checkpoint_every=0)
  state = loop.train_and_evaluate(config, str(tmp_path / "run"))
  last = writers.read_metrics(str(tmp_path / "run"))[-1]
  test = data.load("mnist5k", "test")
  clean = inference.batched(jax.jit(inference.logits_fn(state)),
                            inference.to_float(test["image"])).argmax(-1)
  # The logged test accuracy is that of clean images: no noise at eval.
  assert last["test_accuracy"] == pytest.approx(np.mean(clean == test["label"]), abs=1e-6)
  with pytest.raises(UserError, match=r"^config.gaussian_noise_sd must be >= 0; got -0.1\.$"):
    loop.train_and_evaluate(noisy_config(-0.1), str(tmp_path / "bad"))
  assert not os.path.exists(tmp_path / "bad")


def test_certify_script_writes_results_and_refuses_bad_input(classifier_run, tmp_path):
  workdir, _ = classifier_run
  args = [f"--workdir={workdir}", "--sigma=0.1", "--n0=10", "--n=60", "--num_examples=6",
          "--batch_size=32"]
  out = run_script("certify.py", *args, "--out=c", cwd=tmp_path)
  assert out.returncode == 0, out.stderr[-2000:]
  assert f"Wrote {tmp_path}/c/certify.json and {tmp_path}/c/certified_accuracy.png" in (
      out.stdout)
  assert "| radius | certified accuracy |" in out.stdout
  assert os.path.getsize(tmp_path / "c" / "certified_accuracy.png") > 0
  with open(tmp_path / "c" / "certify.json") as f:
    written = json.load(f)
  assert written["num_examples"] == 6 and len(written["per_example"]) == 6
  assert written["settings"] == {"sigma": 0.1, "n0": 10, "n": 60, "alpha": 0.001,
                                 "batch_size": 32, "seed": 0}
  examples = written["per_example"]
  assert all(e["correct"] == (e["class"] == e["label"]) for e in examples)
  for row in written["certified_accuracy"]:
    assert row["accuracy"] == pytest.approx(np.mean(
        [e["correct"] and e["radius"] >= row["radius"] for e in examples]))
  assert written["certified_accuracy"][0]["accuracy"] > 0  # The run is ~0.89 accurate.
  again = run_script("certify.py", *args, f"--out={tmp_path / 'c'}")
  assert again.returncode == 2
  assert again.stderr.strip().splitlines()[-1].startswith(
      f"error: {tmp_path}/c/certify.json exists; choose another --out")
  bad = run_script("certify.py", f"--workdir={workdir}", "--sigma=-1",
                   f"--out={tmp_path / 'bad'}")
  assert bad.returncode == 2
  assert bad.stderr.strip().splitlines()[-1] == "error: sigma must be > 0; got -1.0."
  # A run trained on clean images has no noise to default to.
  with pytest.raises(UserError, match="was trained without Gaussian noise"):
    certification.certify_workdir(workdir, out=str(tmp_path / "bad"))
  # More examples than the split has: refused before anything is written, as by attack.py.
  with pytest.raises(UserError, match=r"--num_examples must be in \[1, \d+\] \(the test split"):
    certification.certify_workdir(workdir, sigma=0.1, num_examples=10**6,
                                  out=str(tmp_path / "bad"))
  assert not os.path.exists(tmp_path / "bad")
