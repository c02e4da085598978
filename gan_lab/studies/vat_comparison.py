"""VAT against the supervised baseline on the same labels, steps and batches, over seeds."""

import json
import os

import jax
import numpy as np

from gan_lab import data, viz
from gan_lab.core.errors import UserError
from gan_lab.runs import loop, workdirs, writers


def variants(config) -> dict:
  """The comparison's rows, all with the same model, steps and batches: {name: vat changes}."""
  n = config.vat.labels_per_class * data.info(config.dataset).num_classes
  if n == 0:
    raise UserError("The VAT comparison needs vat.labels_per_class > 0 (its baseline trains "
                    "on all labels).")
  return {f"supervised_{n}": {"alpha": 0.0}, f"vat_{n}": {},
          f"vat_entmin_{n}": {"entmin": 1.0},
          "supervised_all": {"alpha": 0.0, "labels_per_class": 0}}


RESULTS_FILE = "vat_results.json"
CURVES_FILE = "vat_curves.png"


def compare(config, workdir: str, seeds, names=None) -> dict:
  """Trains the variants `names` of `config` (default all of `variants`) for each seed in
  <workdir>/<variant>_seed<s>; writes and returns {variant: {seeds, test_error per seed,
  mean, std}}, and plots the mean test error over training in vat_curves.png."""
  if config.experiment != "vat":
    raise UserError(f"The VAT comparison needs a config with experiment 'vat' (e.g. "
                    f"experiments/configs/vat_mnist5k.py); got {config.experiment!r}.")
  rows = variants(config)
  unknown = [n for n in names or () if n not in rows]
  if unknown:
    raise UserError(f"Unknown VAT variant {', '.join(unknown)}; choose from {', '.join(rows)}.")
  rows = {n: rows[n] for n in names} if names else rows
  configs = {}
  for name, changes in rows.items():
    for seed in seeds:
      c = config.copy_and_resolve_references()
      c.seed = seed
      c.vat.update(changes)
      configs[f"{name}_seed{seed}"] = c
  final = loop.train_many(configs, workdir)
  table = {}
  for name in rows:
    errors = [1.0 - final[f"{name}_seed{s}"]["test_accuracy"] for s in seeds]
    table[name] = {"seeds": list(seeds), "test_error": errors,
                   "mean": float(np.mean(errors)), "std": float(np.std(errors))}
  if jax.process_index() == 0:
    workdir = workdirs.local_path(workdir)
    with open(os.path.join(workdir, RESULTS_FILE), "w") as f:
      json.dump({"labels_per_class": config.vat.labels_per_class, "steps": config.num_steps,
                 "dataset": config.dataset, "model": config.model, "variants": table}, f,
                indent=2)
    evals = {name: [[(r["step"], 1.0 - r["test_accuracy"]) for r in writers.read_metrics(
        final[f"{name}_seed{s}"]["workdir"]) if "test_accuracy" in r] for s in seeds]
             for name in rows}
    steps = [step for step, _ in next(iter(evals.values()))[0]]
    viz.metric_curves(steps, {name: np.mean([[e for _, e in run] for run in runs], axis=0)
                              for name, runs in evals.items()},
                      os.path.join(workdir, CURVES_FILE), "step", "test error",
                      f"{config.model} on {config.dataset}, mean over {len(seeds)} seed(s)")
  return table
