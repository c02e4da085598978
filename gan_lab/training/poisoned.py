"""The poisoned experiment: the classifier, trained on a poisoned training split.

Training is the classifier's, on the split `gan_lab.poisoning` poisons as `config.poison`
says (seeded by `config.seed`); the test split stays clean. Every eval adds to the test loss
and accuracy what the attack achieved: `target_class_accuracy` and `attack_success` (see
`poisoning.attack_metrics`). `sweep` trains one run per poison fraction and compares them.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from gan_lab import data, poisoning, viz
from gan_lab.errors import UserError
from gan_lab.training import classifier

RESULTS_FILE = "poison_results.json"
CURVE_FILE = "poison_curve.png"
# What the sweep reports per fraction, from each run's last eval, and the curve's labels.
REPORTED = {"test_accuracy": "clean test accuracy",
            "target_class_accuracy": "target-class accuracy",
            "attack_success": "attack success"}


def _check(config) -> None:
  if "poison" not in config:
    raise UserError("Experiment 'poisoned' needs config.poison; start from "
                    "gan_lab.config.poison_config() (see experiments/configs/poison_*.py).")
  ds_info = data.info(config.dataset)
  poisoning.validate(config.poison, ds_info.num_classes, ds_info.image_shape[:2])


def prepare_data(config, train, test):
  """The training split poisoned as `config.poison` says; the test split as it is."""
  _check(config)
  train, indices = poisoning.poison(train, config.poison, data.info(config.dataset).num_classes,
                                    config.seed)
  logging.info("Poisoned %d of %d training examples (%s).", len(indices), len(train["label"]),
               config.poison.kind)
  return train, test


def make_evaluate(config, mesh, test_batches, n: int, workdir: str):
  """The classifier's test loss and accuracy, and the attack's metrics on the test split."""
  clean = classifier.make_evaluate(config, mesh, test_batches, n, workdir)
  p = config.poison
  test = test_batches.arrays  # The test split on the host, as the loop loaded it.
  triggered = poisoning.add_trigger(test["image"], p.patch_size) if p.kind == "backdoor" else None
  predict = jax.jit(lambda state, images: jnp.argmax(
      classifier.logits_fn(state)(classifier.to_float(images)), -1))
  size = config.eval_batch_size

  def predictions(state, images):
    # The last batch is padded with repeated images, so one compilation serves every batch.
    order = np.arange(-(-len(images) // size) * size) % len(images)
    return np.concatenate([np.asarray(predict(state, images[order[i:i + size]]))
                           for i in range(0, len(order), size)])[:len(images)]

  def evaluate(state, step):
    metrics = clean(state, step)
    metrics.update(poisoning.attack_metrics(
        p, test["label"], predictions(state, test["image"]),
        None if triggered is None else predictions(state, triggered)))
    return metrics

  return evaluate


def sweep(config, workdir: str, fractions) -> dict:
  """Trains `config` at each poison fraction in <workdir>/fraction_<f>, then compares them.

  Writes what it returns to <workdir>/poison_results.json and plots it in poison_curve.png.
  Re-running reuses finished runs and resumes cut-short ones. Every fraction is checked
  before anything is written.
  """
  # loop imports the experiment registry, which imports this module.
  from gan_lab.training import loop  # pylint: disable=g-import-not-at-top
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
    _check(c)
    configs.append(c)

  final = loop.train_many({f"fraction_{c.poison.fraction:g}": c for c in configs}, workdir)
  runs = [{"fraction": c.poison.fraction, "workdir": r["workdir"], "step": r["step"],
           **{k: r[k] for k in REPORTED}} for c, r in zip(configs, final.values())]
  result = {"dataset": config.dataset, "model": config.model,
            "poison": {k: v for k, v in config.poison.items() if k != "fraction"}, "runs": runs}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, RESULTS_FILE), "w") as f:
      json.dump(result, f, indent=2)
    viz.metric_curves(fractions, {label: [r[k] for r in runs] for k, label in REPORTED.items()},
                      os.path.join(workdir, CURVE_FILE), xlabel="poison fraction",
                      ylabel="share of test images",
                      title=f"{config.poison.kind} poisoning, {config.model} on {config.dataset}")
  return result
