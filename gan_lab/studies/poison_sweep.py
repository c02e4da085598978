"""Data poisoning over fractions: clean accuracy, target-class accuracy and attack success."""

import json
import os

import jax

from gan_lab import viz
from gan_lab.core.errors import UserError
from gan_lab.runs import loop, workdirs
from gan_lab.training import poisoned

RESULTS_FILE = "poison_results.json"
CURVE_FILE = "poison_curve.png"
# What the sweep reports per fraction, from each run's last eval, and the curve's labels.
REPORTED = {"test_accuracy": "clean test accuracy",
            "test_target_class_accuracy": "target-class accuracy",
            "test_attack_success": "attack success"}


def sweep(config, workdir: str, fractions) -> dict:
  """Trains `config` at each poison fraction in <workdir>/fraction_<f>, then compares them.

  Writes what it returns to <workdir>/poison_results.json and plots it in poison_curve.png.
  Re-running reuses finished runs and resumes cut-short ones. Every fraction is checked
  before anything is written.
  """
  if config.experiment != "poisoned":
    raise UserError("A poison sweep needs a config with experiment 'poisoned' (e.g. "
                    f"experiments/configs/poison_backdoor_mnist5k.py); got {config.experiment!r}.")
  fractions = sorted(set(fractions))
  if not fractions:
    raise UserError("A poison sweep needs at least one fraction, e.g. --fractions=0,0.05,0.1.")
  configs = []
  for fraction in fractions:
    c = config.copy_and_resolve_references()
    c.poison.fraction = fraction
    poisoned.check(c)
    configs.append(c)

  final = loop.train_many({f"fraction_{c.poison.fraction:g}": c for c in configs}, workdir)
  runs = [{"fraction": c.poison.fraction, "workdir": r["workdir"], "step": r["step"],
           **{k: r[k] for k in REPORTED}} for c, r in zip(configs, final.values())]
  result = {"dataset": config.dataset, "model": config.model,
            "poison": {k: v for k, v in config.poison.items() if k != "fraction"}, "runs": runs}
  if jax.process_index() == 0:
    workdir = workdirs.local_path(workdir)
    with open(os.path.join(workdir, RESULTS_FILE), "w") as f:
      json.dump(result, f, indent=2)
    viz.metric_curves(fractions, {label: [r[k] for r in runs] for k, label in REPORTED.items()},
                      os.path.join(workdir, CURVE_FILE), xlabel="poison fraction",
                      ylabel="share of test images",
                      title=f"{config.poison.kind} poisoning, {config.model} on {config.dataset}")
  return result
