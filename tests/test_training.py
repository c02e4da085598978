import chex
import jax
import numpy as np
import optax
import pytest

from conftest import tiny_config
from gan_lab import data, inference, parallel
from gan_lab.runs import loop
from gan_lab.training import chunks, classifier


@pytest.fixture(scope="module")
def train_arrays():
  return data.load("mnist5k", "train")


def _init(config):
  return classifier.init_state(config, jax.random.key(0), 100)


def test_chunk_bounds_depend_only_on_the_global_step():
  assert loop.chunk_bounds(0, 10, 4) == [(0, 4), (4, 8), (8, 10)]
  assert loop.chunk_bounds(4, 10, 4) == [(4, 8), (8, 10)]
  assert loop.chunk_bounds(6, 10, 4) == [(6, 8), (8, 10)]
  assert loop.chunk_bounds(10, 10, 4) == []


def test_batch_indices_are_epoch_permutations():
  n, b = 10, 3  # 3 steps per epoch; one example per epoch is dropped.
  idx = loop.batch_indices(seed=0, n=n, batch_size=b, begin=0, end=6)
  assert idx.shape == (6, 3)
  for epoch in (idx[:3], idx[3:]):
    assert len(set(epoch.ravel())) == 9 and epoch.max() < n
  assert not np.array_equal(idx[:3], idx[3:])  # A new order each epoch.
  # Any chunking gives the same rows: steps [2, 5) equal rows 2..4 of the whole.
  np.testing.assert_array_equal(loop.batch_indices(0, n, b, 2, 5), idx[2:5])


def test_one_step_learns_the_batch(train_arrays):
  config = tiny_config(learning_rate=1e-2)
  state = _init(config)
  batch = {k: v[:64] for k, v in train_arrays.items()}
  step = jax.jit(classifier.make_train_step(config))
  losses = []
  for i in range(5):
    before = state
    state, metrics = step(state, batch, jax.random.key(i))
    losses.append(float(metrics["loss"]))
  assert int(state.step) == 5
  assert losses[-1] < 0.7 * losses[0]
  # The metrics are those of the batch the step saw, on the parameters before the update.
  logits = inference.logits_fn(before)(inference.to_float(batch["image"]))
  np.testing.assert_allclose(metrics["accuracy"],
                             np.mean(np.argmax(logits, -1) == batch["label"]), atol=1e-6)
  grads = jax.grad(lambda p: optax.softmax_cross_entropy_with_integer_labels(
      before.apply_fn({"params": p}, inference.to_float(batch["image"])),
      batch["label"]).mean())(before.params)
  np.testing.assert_allclose(metrics["grad_norm"], optax.tree.norm(grads), rtol=1e-4)


def test_scan_chunk_equals_step_by_step(train_arrays):
  config = tiny_config()
  key = jax.random.key(3)
  indices = loop.batch_indices(0, 4000, 32, 0, 4)
  mesh = parallel.make_mesh()
  chunk = chunks.make_train_chunk(classifier.make_train_step(config), mesh)
  batches = chunks.Batcher(train_arrays, mesh, on_device=True)(indices)
  scanned, metrics = chunk(_init(config), batches, np.arange(4, dtype=np.int32), key)
  state = _init(config)
  step = jax.jit(classifier.make_train_step(config))
  for s, idx in enumerate(indices):
    state, m = step(state, {k: v[idx] for k, v in train_arrays.items()}, jax.random.fold_in(key, s))
    np.testing.assert_allclose(metrics["loss"][s], m["loss"], rtol=1e-5)
  chex.assert_trees_all_close(scanned.params, state.params, rtol=1e-4, atol=1e-6)


def test_evaluate_counts_every_example_once(train_arrays):
  config = tiny_config()
  state = _init(config)
  mesh = parallel.make_mesh()
  subset = {k: v[:777] for k, v in train_arrays.items()}  # Not a multiple of the batch.
  evaluate = chunks.make_scan_evaluate(classifier.eval_step, classifier.eval_metrics, 250, mesh)
  got = evaluate(state, chunks.Batcher(subset, mesh, on_device=False), 777)
  logits = inference.logits_fn(state)(inference.to_float(subset["image"]))
  expected = float(np.mean(np.argmax(logits, -1) == subset["label"]))
  assert got["accuracy"] == pytest.approx(expected, abs=1e-6)


def test_batchnorm_statistics_update_in_training(train_arrays):
  config = tiny_config()
  config.model_kwargs.layers = ({"filters": 4, "batch_norm": True},)
  state = _init(config)
  before = np.asarray(state.batch_stats["BatchNorm_0"]["mean"])
  mesh = parallel.make_mesh()
  batches = chunks.Batcher(train_arrays, mesh, on_device=True)(loop.batch_indices(0, 4000, 32, 0, 1))
  state, _ = chunks.make_train_chunk(classifier.make_train_step(config), mesh)(
      state, batches, np.arange(1, dtype=np.int32), jax.random.key(0))
  assert not np.allclose(before, state.batch_stats["BatchNorm_0"]["mean"])
