"""The benchmark harness: throughput of the lecture's workloads as this codebase runs them.

  python benchmarks/run.py --workload=seed_cnn_train [--batch=256] [--json]
  python benchmarks/run.py --workload=all --compare      # + Keras and PyTorch, side by side
  python benchmarks/run.py --workload=seed_cnn_train --conv=xla,onednn

Each workload is compiled and warmed up first (its first call's time is reported as
`compile_s`), then timed over `--repeats` calls; throughput comes from the median. One JSON
object per workload is printed as its last line(s): name, batch, device kind and count,
`images_per_sec` (or `steps_per_sec`), compile time, peak host RSS and, on GPU, peak device
memory. `--compare` runs the seed CNN's training step and the dense GAN's step in Keras
(tensorflow-cpu) and PyTorch in the same process and prints the ratios; install them with
`pip install -e '.[bench]'`. Nothing here is asserted by `make test`.
"""

import json
import resource
import time

import jax
import numpy as np
from absl import app, flags

from gan_lab import attacks, inference, parallel
from gan_lab.core.config import classifier_config, gan_config, vat_config
from gan_lab.models import conv
from gan_lab.training import chunks, classifier, gan, vat

WORKLOADS = ("seed_cnn_train", "seed_cnn_train_per_step", "seed_cnn_eval", "dense_gan_step",
             "dcgan_step", "fgsm", "pgd10", "vat_step")
DEFAULT_BATCH = {"seed_cnn_train": 256, "seed_cnn_train_per_step": 256, "seed_cnn_eval": 1000,
                 "dense_gan_step": 32, "dcgan_step": 64, "fgsm": 256, "pgd10": 256,
                 "vat_step": 64}

_WORKLOAD = flags.DEFINE_list("workload", ["all"], f"Workloads: all, {', '.join(WORKLOADS)}.")
_BATCH = flags.DEFINE_integer("batch", None, "Batch size (default: per workload).")
_STEPS = flags.DEFINE_integer("steps", 10, "Training steps per timed call (one jitted scan).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls per workload (median reported).")
_COMPARE = flags.DEFINE_bool("compare", False, "Also run Keras and PyTorch; print ratios.")
_JSON = flags.DEFINE_bool("json", False, "Print only the JSON lines.")
_CONV = flags.DEFINE_list("conv", ["xla"], "Convolutions to measure each workload with, side by "
                          "side (config.conv): xla (the default), onednn, lax.")


def synthetic(batch: int, shape, steps: int | None = None, seed: int = 0) -> dict:
  """uint8 images and labels, [steps, batch, ...] when `steps` is given."""
  rng = np.random.default_rng(seed)
  lead = (batch,) if steps is None else (steps, batch)
  return {"image": rng.integers(0, 256, (*lead, *shape), dtype=np.uint8),
          "label": rng.integers(0, 10, lead).astype(np.int32)}


def _chunk_runner(experiment_step, state, batches, steps: int):
  """A call that runs `steps` training steps as the training loop does: one jitted scan."""
  mesh = parallel.make_mesh()
  chunk = chunks.make_train_chunk(experiment_step, mesh)
  placed = jax.device_put(batches, parallel.sharded(mesh, batch_axis=1))
  state = [jax.device_put(state, parallel.replicated(mesh))]
  indices = np.arange(steps, dtype=np.int32)
  key = jax.random.key(1)

  def call():
    state[0], metrics = chunk(state[0], placed, indices, key)
    return metrics

  return call


def _classifier(dataset: str, impl: str):
  config = classifier_config()
  config.dataset, config.conv = dataset, impl
  return config, classifier.init_state(config, jax.random.key(0), 1)


def workload(name: str, batch: int, steps: int, impl: str = "xla"):
  """(call, images per call): `call()` runs the workload once and returns arrays to wait on.

  `impl` is the models' convolution implementation (config.conv)."""
  if name in ("seed_cnn_train", "seed_cnn_train_per_step"):
    config, state = _classifier("cifar10", impl)
    batches = synthetic(batch, (32, 32, 3), steps)
    train_step = classifier.make_train_step(config)
    if name == "seed_cnn_train":
      return _chunk_runner(train_step, state, batches, steps), batch * steps
    step = jax.jit(train_step, donate_argnums=(0,))
    holder, key = [state], jax.random.key(1)
    batches = jax.device_put(batches)

    def per_step():  # The same steps, one jitted call each from Python.
      for i in range(steps):
        holder[0], metrics = step(holder[0], jax.tree.map(lambda a: a[i], batches),
                                  jax.random.fold_in(key, i))
      return metrics

    return per_step, batch * steps
  if name == "seed_cnn_eval":
    _, state = _classifier("cifar10", impl)
    x = jax.device_put(synthetic(batch, (32, 32, 3))["image"])
    fn = jax.jit(lambda s, x: inference.logits_fn(s)(inference.to_float(x)))
    return (lambda: fn(state, x)), batch
  if name in ("dense_gan_step", "dcgan_step"):
    config = gan_config()
    config.conv = impl
    if name == "dcgan_step":
      config.gan.update(generator="DCGANGenerator", discriminator="DCGANDiscriminator",
                        codings=100)
      config.gan.generator_kwargs.features = (128, 64)
      config.gan.discriminator_kwargs.features = (64, 128)
    state = gan.init_state(config, jax.random.key(0), 1)
    return _chunk_runner(gan.make_train_step(config), state,
                         synthetic(batch, (28, 28, 1), steps), steps), batch * steps
  if name in ("fgsm", "pgd10"):
    _, state = _classifier("cifar10", impl)
    data = synthetic(batch, (32, 32, 3))
    x, y = jax.device_put(inference.to_float(data["image"])), jax.device_put(data["label"])
    fn = inference.logits_fn(state)
    attack = (jax.jit(lambda x, y: attacks.fgsm(fn, x, y, 8 / 255)) if name == "fgsm" else
              jax.jit(lambda x, y: attacks.pgd(fn, x, y, 8 / 255, num_steps=10)))
    return (lambda: attack(x, y)), batch
  if name == "vat_step":
    config = vat_config()
    config.model, config.conv = "SeedCNN", impl
    state = vat.init_state(config, jax.random.key(0), 1)
    batches = synthetic(batch, (28, 28, 1), steps)
    batches["unlabeled"] = synthetic(batch, (28, 28, 1), steps, seed=1)["image"]
    return _chunk_runner(vat.make_train_step(config), state, batches, steps), batch * steps
  raise app.UsageError(f"Unknown workload {name!r}; choose from all, {', '.join(WORKLOADS)}.")


def measure(call, images: int, repeats: int) -> dict:
  """Compile/warm-up time of the first call, then the median of `repeats` timed calls."""
  t0 = time.perf_counter()
  jax.block_until_ready(call())
  compile_s = time.perf_counter() - t0
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(call())
    times.append(time.perf_counter() - t0)
  return {"images_per_sec": round(images / float(np.median(times)), 1),
          "compile_s": round(compile_s, 2)}


def record(name: str, batch: int, framework: str, result: dict) -> dict:
  device = jax.local_devices()[0]
  stats = device.memory_stats() or {}
  out = {"name": name, "framework": framework, "batch": batch,
         "device": device.device_kind, "device_count": jax.device_count(), **result,
         # ru_maxrss is in KiB on Linux: the whole process so far, a high-water mark.
         "peak_host_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
  if "peak_bytes_in_use" in stats:
    out["peak_device_memory_mb"] = round(stats["peak_bytes_in_use"] / 2**20)
  return out


def main(argv):
  del argv
  names = WORKLOADS if "all" in _WORKLOAD.value else _WORKLOAD.value
  records = []
  for name in names:
    batch = _BATCH.value or DEFAULT_BATCH.get(name, 64)
    for impl in _CONV.value:
      conv.check_implementation(impl)  # A bad name or an unbuilt oneDNN, before the work.
      call, images = workload(name, batch, _STEPS.value, impl)
      framework = "jax" if impl == "xla" else f"jax+{impl}"
      records.append(record(name, batch, framework, measure(call, images, _REPEATS.value)))
      print(json.dumps(records[-1]), flush=True)
  if _COMPARE.value:
    import compare  # pylint: disable=g-import-not-at-top  # Needs the [bench] extra.
    for rec in compare.run(_BATCH.value, _STEPS.value, _REPEATS.value):
      records.append(record(rec.pop("name"), rec.pop("batch"), rec.pop("framework"), rec))
      print(json.dumps(records[-1]), flush=True)
    if not _JSON.value:
      print(compare.ratios(records))


if __name__ == "__main__":
  app.run(main)
