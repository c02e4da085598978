"""Certified L2 robustness of a trained classifier by randomized smoothing: the numbers
behind experiments/certify.py (`gan_lab.smoothing` on a run's test split)."""

import json
import os
import time

import jax
import numpy as np
from absl import logging
from scipy import stats

from gan_lab import data, inference, smoothing, viz
from gan_lab.core.errors import UserError
from gan_lab.runs import experiments, restore, workdirs
from gan_lab.studies.robustness import subset
from gan_lab.training import classifier

RESULTS_FILE = "certify.json"
FIGURE_FILE = "certified_accuracy.png"
RADII = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)  # The reference's table (locuslab/smoothing).
_GROUP = 50  # Examples per call to smoothing.certify: a progress line each.


def certify_workdir(workdir: str, *, sigma: float | None = None, n0: int = 100,
                    n: int = 100_000, alpha: float = 0.001, num_examples: int = 500,
                    batch_size: int = 1000, seed: int = 0, out: str | None = None,
                    radii=RADII) -> str:
  """Certifies the smoothed classifier of the run in `workdir` on the first `num_examples`
  test examples; writes certify.json and certified_accuracy.png into `out` and returns it.

  `sigma` defaults to the noise the run was trained under (config.gaussian_noise_sd). `out`
  defaults to `<workdir>/certify/<k>` (the next free k): no earlier result is overwritten.
  """
  config, state, step = experiments.restore_classifier(workdir)
  train_sd = classifier.noise_sd(config)
  if sigma is None:
    if not train_sd:
      raise UserError(f"{workdir} was trained without Gaussian noise (no "
                      "config.gaussian_noise_sd); pass --sigma, or certify a run of a "
                      "smoothing config (experiments/configs/smooth_*.py).")
    sigma = train_sd
  smoothing.check_args(sigma=sigma, n=n, alpha=alpha, batch_size=batch_size, n0=n0)
  if min(radii) < 0:
    raise UserError(f"Radii must be >= 0; got {min(radii)}.")
  # The first num_examples, refused beyond the split, as the attack scripts do.
  test = subset(data.load(config.dataset, "test", config.data_dir or None), num_examples)
  out = workdirs.writable_dir(out or workdirs.next_free_dir(
      os.path.join(workdirs.local_path(workdir), "certify")))
  workdirs.refuse_existing(os.path.join(out, name) for name in (RESULTS_FILE, FIGURE_FILE))

  k = len(test["label"])
  x, labels = inference.to_float(test["image"]), test["label"]
  fn = inference.logits_fn(state)  # One object: smoothing compiles once for it.
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(np.arange(k))
  classes, radius = np.zeros(k, np.int64), np.zeros(k)
  start = time.time()
  for i in range(0, k, _GROUP):
    part = slice(i, min(i + _GROUP, k))
    classes[part], radius[part] = smoothing.certify(
        fn, x[part], sigma=sigma, n0=n0, n=n, alpha=alpha, batch_size=batch_size,
        rng=keys[part])
    logging.info("Certified %d of %d examples (%.0f s).", part.stop, k, time.time() - start)
  seconds = time.time() - start
  base = inference.batched(jax.jit(fn), x, batch_size=config.eval_batch_size).argmax(-1)
  # The largest radius n samples can certify: all n of the top class.
  max_radius = float(sigma * stats.norm.ppf(smoothing.lower_confidence_bound(n, n, alpha)))
  table = smoothing.certified_accuracy(classes, radius, labels, radii)
  warnings = [w for w in [restore.unfinished(workdir, config, step)] if w]

  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, RESULTS_FILE), "w") as f:
    json.dump({
        "workdir": os.path.abspath(workdir), "step": step, "dataset": config.dataset,
        "model": config.model, "train_noise_sd": train_sd,
        "settings": {"sigma": sigma, "n0": n0, "n": n, "alpha": alpha,
                     "batch_size": batch_size, "seed": seed},
        "split": "test", "num_examples": k,  # The first k: per_example gives each index.
        "seconds": seconds, "max_radius": max_radius,
        "base_accuracy": float(np.mean(base == labels)),
        "abstained": float(np.mean(classes == smoothing.ABSTAIN)),
        "certified_accuracy": [{"radius": float(r), "accuracy": float(a)}
                               for r, a in zip(radii, table)],
        "per_example": [{"index": i, "label": int(y), "class": int(c), "radius": float(r),
                         "correct": bool(c == y)}
                        for i, (y, c, r) in enumerate(zip(labels, classes, radius))],
        "warnings": warnings}, f, indent=2)
  grid = np.linspace(0.0, max(1.05 * max_radius, *radii), 200)  # Past the drop to 0.
  curve = smoothing.certified_accuracy(classes, radius, labels, grid)
  label = f"sigma {sigma:g}, n {n:,} (radius <= {max_radius:.2f})"
  viz.metric_curves(grid, {label: curve}, os.path.join(out, FIGURE_FILE), "L2 radius",
                    "certified accuracy", f"{config.model} on {config.dataset}, {k} test "
                    f"examples: clean {curve[0]:.3f} at radius 0", marker=None)
  return out
