"""Attack throughput on the SeedCNN: forward pass, FGSM, PGD-10 as `attacks.pgd` runs it (one
jitted, unrolled `lax.fori_loop`), and PGD-10 as ten jitted gradient steps called from Python.

  python benchmarks/attacks.py [--batch=500] [--repeats=5] [--shape=28,28,1]

All variants are measured in one process, interleaved, so their ratios are comparable on a
shared, noisy machine. Prints one JSON object per variant.
"""

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gan_lab import attacks, inference
from gan_lab.core.config import classifier_config
from gan_lab.training import classifier

_BATCH = flags.DEFINE_integer("batch", 500, "Images per call.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats per variant (median reported).")
_SHAPE = flags.DEFINE_list("shape", ["28", "28", "1"], "Image shape H,W,C.")
EPS, STEPS = 0.1, 10


def main(argv):
  del argv
  shape = tuple(int(s) for s in _SHAPE.value)
  config = classifier_config()
  config.dataset = {(28, 28, 1): "mnist5k", (32, 32, 3): "cifar10"}[shape]
  state = classifier.init_state(config, jax.random.key(0), 1)
  fn = inference.logits_fn(state)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.uniform(0, 1, (_BATCH.value, *shape)), jnp.float32)
  y = jnp.asarray(rng.integers(0, 10, _BATCH.value))
  step = jax.jit(lambda x_adv: jnp.clip(
      x_adv + 0.025 * jnp.sign(attacks.input_gradient(fn, x_adv, y)), x - EPS, x + EPS))

  def pgd_python_loop(x):
    for _ in range(STEPS):
      x = step(x)
    return x

  variants = {
      "forward": jax.jit(fn),
      "fgsm": jax.jit(lambda x: attacks.fgsm(fn, x, y, EPS)),
      "pgd10": jax.jit(lambda x: attacks.pgd(fn, x, y, EPS, num_steps=STEPS)),
      "pgd10_python_loop": pgd_python_loop,
  }
  compile_s = {}
  for name, f in variants.items():
    t0 = time.perf_counter()
    jax.block_until_ready(f(x))
    compile_s[name] = time.perf_counter() - t0
  times = {name: [] for name in variants}
  for _ in range(_REPEATS.value):
    for name, f in variants.items():
      t0 = time.perf_counter()
      jax.block_until_ready(f(x))
      times[name].append(time.perf_counter() - t0)
  for name, ts in times.items():
    median = float(np.median(ts))
    print(json.dumps({"name": name, "batch": _BATCH.value, "shape": shape,
                      "device": jax.devices()[0].device_kind, "devices": jax.device_count(),
                      "images_per_sec": round(_BATCH.value / median, 1),
                      "ms_per_call": round(1000 * median, 2),
                      "first_call_s": round(compile_s[name], 2)}))


if __name__ == "__main__":
  app.run(main)
