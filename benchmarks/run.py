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

import itertools
import json
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gan_lab import attacks, inference, models, parallel
from gan_lab.core.config import classifier_config, gan_config, vat_config
from gan_lab.models import conv
from gan_lab.studies import report
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
_DTYPE = flags.DEFINE_list("dtype", ["float32"], "Compute dtypes (config.dtype), side by side: "
                           "float32, bfloat16.")
_CONV = flags.DEFINE_list("conv", ["auto"], "Convolutions to measure each workload with, side "
                          "by side (config.conv): auto (the default), xla, onednn, lax.")


def synthetic(batch: int, shape, steps: int | None = None, seed: int = 0) -> dict:
  """uint8 images and labels, [steps, batch, ...] when `steps` is given."""
  rng = np.random.default_rng(seed)
  lead = (batch,) if steps is None else (steps, batch)
  return {"image": rng.integers(0, 256, (*lead, *shape), dtype=np.uint8),
          "label": rng.integers(0, 10, lead).astype(np.int32)}


class Workload:
  """`call()` runs jitted `fn(*args)` once (a training chunk's state carried to the next
  call); `images` per call. `fn.lower(*args)` is what XLA counts the FLOPs of."""

  def __init__(self, fn, args, images: int, carry: bool = False):
    self.fn, self.args, self.images, self.carry = fn, list(args), images, carry

  def __call__(self):
    out = self.fn(*self.args)
    if self.carry:
      self.args[0], out = out
    return out


def _chunk_runner(experiment_step, state, batches, steps: int, images: int) -> Workload:
  """`steps` training steps as the training loop runs them: one jitted scan."""
  mesh = parallel.make_mesh()
  chunk = chunks.make_train_chunk(experiment_step, mesh)
  placed = jax.device_put(batches, parallel.sharded(mesh, batch_axis=1))
  state = jax.device_put(state, parallel.replicated(mesh))
  return Workload(chunk, (state, placed, np.arange(steps, dtype=np.int32), jax.random.key(1)),
                  images, carry=True)


def _classifier(dataset: str, impl: str, dtype: str):
  config = classifier_config()
  config.dataset, config.conv, config.dtype = dataset, impl, dtype
  return config, classifier.init_state(config, jax.random.key(0), 1)


def workload(name: str, batch: int, steps: int, impl: str = "auto", dtype: str = "float32"):
  """The `Workload` `name` with the models' convolutions `impl` (config.conv) computing in
  `dtype` (config.dtype); `seed_cnn_train_per_step` is a plain function (no FLOP count)."""
  if name in ("seed_cnn_train", "seed_cnn_train_per_step"):
    config, state = _classifier("cifar10", impl, dtype)
    batches = synthetic(batch, (32, 32, 3), steps)
    train_step = classifier.make_train_step(config)
    if name == "seed_cnn_train":
      return _chunk_runner(train_step, state, batches, steps, batch * steps)
    step = jax.jit(train_step, donate_argnums=(0,))
    holder, key = [state], jax.random.key(1)
    batches = jax.device_put(batches)

    def per_step():  # The same steps, one jitted call each from Python.
      for i in range(steps):
        holder[0], metrics = step(holder[0], jax.tree.map(lambda a: a[i], batches),
                                  jax.random.fold_in(key, i))
      return metrics
    per_step.images = batch * steps
    return per_step
  if name == "seed_cnn_eval":
    _, state = _classifier("cifar10", impl, dtype)
    x = jax.device_put(synthetic(batch, (32, 32, 3))["image"])
    fn = jax.jit(lambda s, x: inference.logits_fn(s)(inference.to_float(x)))
    return Workload(fn, (state, x), batch)
  if name in ("dense_gan_step", "dcgan_step"):
    config = gan_config()
    config.conv, config.dtype = impl, dtype
    if name == "dcgan_step":
      config.gan.update(generator="DCGANGenerator", discriminator="DCGANDiscriminator",
                        codings=100)
      config.gan.generator_kwargs.features = (128, 64)
      config.gan.discriminator_kwargs.features = (64, 128)
    state = gan.init_state(config, jax.random.key(0), 1)
    return _chunk_runner(gan.make_train_step(config), state,
                         synthetic(batch, (28, 28, 1), steps), steps, batch * steps)
  if name in ("fgsm", "pgd10"):
    _, state = _classifier("cifar10", impl, dtype)
    data = synthetic(batch, (32, 32, 3))
    x, y = jax.device_put(inference.to_float(data["image"])), jax.device_put(data["label"])
    fn = inference.logits_fn(state)
    attack = (jax.jit(lambda x, y: attacks.fgsm(fn, x, y, 8 / 255)) if name == "fgsm" else
              jax.jit(lambda x, y: attacks.pgd(fn, x, y, 8 / 255, num_steps=10)))
    return Workload(attack, (x, y), batch)
  if name == "vat_step":
    config = vat_config()
    config.model, config.conv, config.dtype = "SeedCNN", impl, dtype
    state = vat.init_state(config, jax.random.key(0), 1)
    batches = synthetic(batch, (28, 28, 1), steps)
    batches["unlabeled"] = synthetic(batch, (28, 28, 1), steps, seed=1)["image"]
    return _chunk_runner(vat.make_train_step(config), state, batches, steps, batch * steps)
  raise app.UsageError(f"Unknown workload {name!r}; choose from all, {', '.join(WORKLOADS)}.")


def gflop_per_image(name: str, batch: int, dtype: str) -> float | None:
  """XLA's FLOP count of the workload per image, on plain lax convolutions (oneDNN's custom
  calls count nothing): the same arithmetic. A training chunk is counted with one step, as
  the count takes a loop's body once. None for the per-step variant."""
  w = workload(name, batch, 1, "lax", dtype)
  if not isinstance(w, Workload):
    return None
  return w.fn.lower(*w.args).cost_analysis()["flops"] / w.images / 1e9


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


def matmul_gflops(dtypes, n: int = 2048, repeats: int = 5) -> dict:
  """The device's matmul rate (n x n by n x n) per dtype, and numpy's float32, in GFLOP/s:
  the yardstick of each workload's FLOP rate ("mfu": its share of the matmul's)."""
  a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
  dot = jax.jit(jnp.dot)
  calls = {"numpy_float32": lambda: a @ a}
  for dtype in dtypes:
    da = jax.device_put(a.astype(jnp.dtype(dtype)))
    calls[f"xla_{dtype}"] = lambda da=da: dot(da, da)
  return {f"{label}_matmul_gflops": round(2 * n**3 * measure(call, 1, repeats)[
      "images_per_sec"] / 1e9, 1) for label, call in calls.items()}  # Calls per second.


def main(argv):
  del argv
  names = WORKLOADS if "all" in _WORKLOAD.value else _WORKLOAD.value
  for dtype in _DTYPE.value:
    if dtype not in models.DTYPES:
      raise app.UsageError(f"--dtype {dtype!r}: choose from {', '.join(models.DTYPES)}.")
  records = [{"name": "host", "machine": report.machine(), **matmul_gflops(_DTYPE.value)}]
  print(json.dumps(records[-1]), flush=True)
  for name in names:
    batch = _BATCH.value or DEFAULT_BATCH.get(name, 64)
    for impl, dtype in itertools.product(_CONV.value, _DTYPE.value):
      resolved = conv.resolve(impl)  # A bad name or an unbuilt oneDNN, before the work.
      call = workload(name, batch, _STEPS.value, impl, dtype)
      framework = ("jax" if impl == "auto" else f"jax+{impl}") + (
          "" if dtype == "float32" else f" {dtype}")
      records.append({**record(name, batch, framework, measure(call, call.images,
                                                               _REPEATS.value)),
                      "conv": resolved, "dtype": dtype})
      flops = gflop_per_image(name, batch, dtype)
      if flops:
        records[-1]["gflops"] = round(records[-1]["images_per_sec"] * flops, 1)
        records[-1]["mfu"] = round(records[-1]["gflops"] /
                                   records[0][f"xla_{dtype}_matmul_gflops"], 3)
      print(json.dumps(records[-1]), flush=True)
  if _COMPARE.value:
    import compare  # pylint: disable=g-import-not-at-top  # Needs the [bench] extra.
    for rec in compare.run(names, _BATCH.value, _STEPS.value, _REPEATS.value):
      records.append(record(rec.pop("name"), rec.pop("batch"), rec.pop("framework"), rec))
      print(json.dumps(records[-1]), flush=True)
    if not _JSON.value:
      print(compare.ratios(records))


if __name__ == "__main__":
  app.run(main)
