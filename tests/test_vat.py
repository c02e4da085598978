import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from gan_lab import attacks, data
from gan_lab.core.config import vat_config
from gan_lab.core.errors import UserError
from gan_lab.runs import loop
from gan_lab.studies import tables, vat_comparison
from gan_lab.training import vat


@pytest.fixture(scope="module")
def linear():
  rng = np.random.default_rng(0)
  w = rng.normal(size=(12, 5))
  x = rng.uniform(0, 1, size=(4, 12))
  fn = lambda x: x @ jnp.asarray(w, jnp.float32)
  return fn, jnp.asarray(x, jnp.float32), w


def test_perturbation_has_norm_eps_and_ignores_the_start_scale(linear):
  fn, x, _ = linear
  r = attacks.vat_perturbation(fn, x, jax.random.key(0), eps=2.5)
  np.testing.assert_allclose(np.linalg.norm(np.asarray(r), axis=1), 2.5, rtol=1e-5)
  start = jax.random.normal(jax.random.key(1), x.shape)
  a = attacks.vat_perturbation(fn, x, start=start, eps=1.0)
  b = attacks.vat_perturbation(fn, x, start=7.0 * start, eps=1.0)
  np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  # Jittable, and the start from one key is per example (as for the other attacks).
  jitted = jax.jit(lambda x, k: attacks.vat_perturbation(fn, x, k, eps=2.5))
  np.testing.assert_allclose(jitted(x, jax.random.key(0)), r, rtol=1e-5, atol=1e-6)


def test_power_iteration_finds_the_top_eigenvector_of_the_kl_hessian(linear):
  """For logits x W the Hessian of KL(p(x) || p(x + r)) at r = 0 is W (diag p - p p^T) W^T."""
  fn, x, w = linear
  tops = []
  for i in range(len(x)):
    logits = np.asarray(x[i], np.float64) @ w
    p = np.exp(logits - logits.max())
    p /= p.sum()
    tops.append(np.linalg.eigh(w @ (np.diag(p) - np.outer(p, p)) @ w.T)[1][:, -1])
  # A mathematical claim, so in float64: there the finite difference at the paper's
  # xi = 1e-6 is exact to O(xi) (in float32 its round-off alone limits the direction).
  with jax.enable_x64(True):
    fn64 = lambda x: x @ jnp.asarray(w, jnp.float64)
    for xi in (1e-4, 1e-6):
      r = np.asarray(attacks.vat_perturbation(fn64, jnp.asarray(x, jnp.float64),
                                              jax.random.key(2), eps=1.0, xi=xi,
                                              num_iterations=30))
      assert r.dtype == np.float64
      cosines = np.abs(np.sum(r * np.array(tops), axis=1))
      np.testing.assert_allclose(cosines, 1.0, atol=1e-6)


def test_vat_loss_is_zero_for_a_constant_model():
  x = jax.random.uniform(jax.random.key(0), (3, 4, 4, 1))
  const = lambda x: jnp.broadcast_to(jnp.array([1.0, -2.0, 0.5]), (x.shape[0], 3))
  r = attacks.vat_perturbation(const, x, jax.random.key(1), eps=2.0)
  assert np.all(np.isfinite(r))
  assert float(attacks.vat_loss(const(x), const(x + r))) == 0.0
  logits = jnp.array([[0.0, 0.0], [100.0, 0.0]])
  np.testing.assert_allclose(attacks.entropy_loss(logits), np.log(2) / 2, rtol=1e-5)


@pytest.mark.parametrize("kwargs,match", [({"eps": 0.0}, "VAT eps must be > 0"),
                                          ({"xi": -1e-6}, "VAT xi must be > 0"),
                                          ({"num_iterations": 0}, "num_iterations must be")])
def test_bad_vat_settings(linear, kwargs, match):
  fn, x, _ = linear
  with pytest.raises(UserError, match=match):
    attacks.vat_perturbation(fn, x, jax.random.key(0), **{"eps": 1.0, **kwargs})


def test_comparison_rows_are_named_by_the_number_of_labels():
  assert list(vat_comparison.variants(small_vat_config(labels_per_class=10))) == [
      "supervised_100", "vat_100", "vat_entmin_100", "supervised_all"]
  with pytest.raises(UserError, match="needs vat.labels_per_class > 0"):
    vat_comparison.variants(small_vat_config(labels_per_class=0))


def test_one_seed_shows_its_value_not_a_spread_of_zero():
  assert tables.mean_std([0.18]) == "0.180 (1 seed)"
  assert tables.mean_std([0.1, 0.2, 0.3]) == f"0.200 ± {np.std([0.1, 0.2, 0.3]):.3f}"


def test_labelled_split_is_balanced_and_reproducible():
  labels = data.load("mnist5k", "train")["label"]
  a = data.labeled_subset(labels, 10, seed=0)
  np.testing.assert_array_equal(np.bincount(labels[a]), np.full(10, 10))
  np.testing.assert_array_equal(a, data.labeled_subset(labels, 10, seed=0))
  assert not np.array_equal(a, data.labeled_subset(labels, 10, seed=1))
  with pytest.raises(UserError, match="Cannot take 401 labels per class: the smallest class "
                                      "has 400"):
    data.labeled_subset(labels, 401, seed=0)


def small_vat_config(**vat_fields):
  c = vat_config()
  c.update({k: v for k, v in tiny_config().items() if k != "experiment"})
  c.vat.update(vat_fields)
  return c


def test_perturbed_passes_leave_batchnorm_statistics_alone():
  config = small_vat_config(labels_per_class=5)
  config.model_kwargs.layers = ({"filters": 4, "batch_norm": True},)
  state = vat.init_state(config, jax.random.key(0), 10)
  train, _ = vat.prepare_data(config, data.load("mnist5k", "train"), None)
  batch = {k: v[:16] for k, v in train.items()}
  new, metrics = jax.jit(vat.make_train_step(config))(state, batch, jax.random.key(1))
  assert float(metrics["vat_loss"]) > 0
  # The running averages after the two clean passes (labelled, then unlabelled) alone.
  stats = state.batch_stats
  for images in (batch["image"], batch["unlabeled"]):
    _, updates = state.apply_fn({"params": state.params, "batch_stats": stats},
                                images.astype(np.float32) / 255.0, train=True,
                                rngs={"dropout": jax.random.key(0)}, mutable=["batch_stats"])
    stats = updates["batch_stats"]
  chex.assert_trees_all_close(new.batch_stats, stats, rtol=1e-5, atol=1e-7)


def test_vat_run_saves_its_labelled_indices(tmp_path):
  config = small_vat_config(labels_per_class=3)
  loop.train_and_evaluate(config, str(tmp_path / "run"))
  with open(tmp_path / "run" / vat.LABELED_FILE) as f:
    saved = json.load(f)
  labels = data.load("mnist5k", "train")["label"]
  np.testing.assert_array_equal(saved["indices"], data.labeled_subset(labels, 3, config.seed))
  with pytest.raises(UserError, match="Cannot take 500 labels per class"):
    loop.train_and_evaluate(small_vat_config(labels_per_class=500), str(tmp_path / "bad"))
  with pytest.raises(UserError, match="VAT eps must be > 0"):
    loop.train_and_evaluate(small_vat_config(eps=-1.0), str(tmp_path / "bad"))
  assert not os.path.exists(tmp_path / "bad")
