"""SeedCNN training throughput: plain lax derivatives (config.conv = "lax") vs gan_lab's
("xla": the im2col weight gradient, the tiled max pool), each run as a jitted `lax.scan`
over a chunk of steps and as one jitted call per step (Python loop).

  python benchmarks/train_loop.py [--batch=64] [--steps=25] [--repeats=3] [--shape=28,28,1]

All four are measured in one process, interleaved, so their ratios are comparable on a
shared, noisy machine. Prints one JSON object per variant, then the ratios.
"""

import json
import time

import jax
import numpy as np
from absl import app, flags

from gan_lab import parallel
from gan_lab.core.config import classifier_config
from gan_lab.training import chunks, classifier

_BATCH = flags.DEFINE_integer("batch", 64, "Batch size.")
_STEPS = flags.DEFINE_integer("steps", 25, "Steps per chunk (timed unit).")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed repeats per variant (median reported).")
_SHAPE = flags.DEFINE_list("shape", ["28", "28", "1"], "Image shape H,W,C.")


def _variant(impl, use_scan, batches):
  config = classifier_config()
  config.conv = impl
  key = jax.random.key(1)
  steps = np.arange(len(batches["label"]), dtype=np.int32)
  if use_scan:  # What the training loop runs, with its inputs placed as the loop places them.
    mesh = parallel.make_mesh()
    state = jax.device_put(classifier.init_state(config, jax.random.key(0), 1),
                           parallel.replicated(mesh))
    chunk = chunks.make_train_chunk(classifier.make_train_step(config), mesh)
    placed = jax.device_put(batches, parallel.sharded(mesh, batch_axis=1))
    run = lambda s: chunk(s, placed, steps, key)
  else:
    state = classifier.init_state(config, jax.random.key(0), 1)
    step = jax.jit(classifier.make_train_step(config), donate_argnums=(0,))

    def run(s):
      for i in steps:
        s, m = step(s, jax.tree.map(lambda a: a[i], batches), jax.random.fold_in(key, i))
      return s, m

  t0 = time.perf_counter()
  state, m = run(state)
  jax.block_until_ready(m)
  return run, state, time.perf_counter() - t0


def main(argv):
  del argv
  shape = tuple(int(s) for s in _SHAPE.value)
  rng = np.random.default_rng(0)
  n = _BATCH.value * _STEPS.value
  arrays = {"image": rng.integers(0, 256, (n, *shape), dtype=np.uint8),
            "label": rng.integers(0, 10, (n,), dtype=np.int32)}
  batches = jax.device_put(
      {k: v.reshape(_STEPS.value, _BATCH.value, *v.shape[1:]) for k, v in arrays.items()})
  variants = {}
  for conv_name, impl in (("lax", "lax"), ("im2col_grad", "xla")):
    for loop_name, use_scan in (("scan", True), ("per_step", False)):
      variants[f"{conv_name}/{loop_name}"] = _variant(impl, use_scan, batches)
  times = {name: [] for name in variants}
  for _ in range(_REPEATS.value):  # Interleaved, so drift hits every variant alike.
    for name, (run, state, _) in variants.items():
      t0 = time.perf_counter()
      state, m = run(state)
      jax.block_until_ready(m)
      times[name].append(time.perf_counter() - t0)
      variants[name] = (run, state, variants[name][2])
  results = {}
  for name, ts in times.items():
    sec = float(np.median(ts))
    results[name] = {
        "workload": "seed_cnn_train", "variant": name, "batch": _BATCH.value,
        "shape": list(shape), "device": jax.devices()[0].device_kind,
        "device_count": jax.device_count(), "compile_and_first_chunk_s": round(variants[name][2], 2),
        "ms_per_step": round(1000 * sec / _STEPS.value, 1),
        "images_per_sec": round(_BATCH.value * _STEPS.value / sec, 1)}
    print(json.dumps(results[name]))
  base = results["lax/scan"]["images_per_sec"]
  print(json.dumps({"ratios_vs_lax_scan": {
      k: round(v["images_per_sec"] / base, 2) for k, v in results.items()}}))


if __name__ == "__main__":
  app.run(main)
