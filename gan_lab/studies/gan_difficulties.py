"""The lecture's four difficulties of training GANs, each shown and fixed on the same budget.

For every difficulty the study trains a plain run that shows it and a run with one of the
field's fixes (`config.gan`'s stabilisers), the same steps and evals, judged by the same
classifier, and measures the difficulty on both:

- "oscillation" (no equilibrium): how much G's loss swings over the second half of the run
  (std over mean of the logged chunks), beside the final classifier-FID;
- "discriminator_wins": D's final loss (near 0: G's gradients vanish) and D(G(z));
- "mode_collapse": the classes the samples cover and their class KL;
- "instability": the std of the classifier-FID over the second half's evals.

`compare(config, workdir)` writes <workdir>/<difficulty>/{plain,fixed}/ (runs that resume)
and returns {difficulty: {"plain": measures, "fixed": measures}}.
"""

import json
import math
import os

import jax
import numpy as np

from gan_lab.core.errors import UserError
from gan_lab.runs import loop, workdirs, writers

RESULTS_FILE = "gan_difficulties.json"
# What each difficulty's measure is called, and whether smaller is better.
MEASURES = {"oscillation": ("G-loss swing", True), "discriminator_wins": ("final D loss", False),
            "mode_collapse": ("classes covered", False), "instability": ("FID std", True)}
DIFFICULTIES = tuple(MEASURES)


def _second_half(history: list[dict], key: str) -> np.ndarray:
  values = [h[key] for h in history if key in h]
  return np.asarray(values[len(values) // 2:], np.float64)


def measure(difficulty: str, history: list[dict]) -> dict:
  """{measure, classifier_fid, classes_covered, d_loss, d_fake} of one run's logged metrics."""
  judged = [h for h in history if "test_classifier_fid" in h]
  last, final = history[-1], judged[-1]
  if difficulty == "oscillation":
    g = _second_half(history, "train_g_loss")
    value = float(g.std() / abs(g.mean()))
  elif difficulty == "discriminator_wins":
    value = float(last["train_d_loss"])
  elif difficulty == "mode_collapse":
    value = float(final["test_classes_covered"])
  elif difficulty == "instability":
    value = float(_second_half(judged, "test_classifier_fid").std())
  else:
    raise UserError(f"Unknown GAN difficulty {difficulty!r}; choose from "
                    f"{', '.join(DIFFICULTIES)}.")
  return {"measure": value, "classifier_fid": final["test_classifier_fid"],
          "classes_covered": final["test_classes_covered"], "class_kl": final["test_class_kl"],
          "d_loss": last["train_d_loss"], "d_fake": last["train_d_fake"],
          "step": last["step"]}


def compare(config, workdir: str) -> dict:
  """Trains config.<difficulty>.plain and .fixed for each of `config.difficulties`, both for
  `config.num_steps` steps, `config.num_eval_samples` samples judged every
  `config.eval_every` by `config.classifier_workdir`, and measures both; writes
  <workdir>/gan_difficulties.json."""
  unknown = [d for d in config.difficulties if d not in DIFFICULTIES]
  if unknown:
    raise UserError(f"Unknown GAN difficulty {unknown[0]!r}; choose from "
                    f"{', '.join(DIFFICULTIES)}.")
  result = {}
  for difficulty in config.difficulties:
    pair = config[difficulty]
    runs = {}
    for name in ("plain", "fixed"):  # The study's budget and judge, for both alike.
      runs[name] = pair[name].copy_and_resolve_references()
      runs[name].update(num_steps=config.num_steps, eval_every=config.eval_every,
                        log_every=math.gcd(50, config.eval_every), checkpoint_every=0)
      runs[name].gan.update(classifier_workdir=config.classifier_workdir,
                            num_eval_samples=config.num_eval_samples)
    runs = loop.train_many(runs, os.path.join(workdir, difficulty))
    result[difficulty] = {
        name: {**measure(difficulty, writers.read_metrics(run["workdir"])),
               "workdir": run["workdir"], "fix": pair.fix if name == "fixed" else ""}
        for name, run in runs.items()}
  if jax.process_index() == 0:
    with open(os.path.join(workdirs.local_path(workdir), RESULTS_FILE), "w") as f:
      json.dump(result, f, indent=2)
  return result


def improved(difficulty: str, plain: dict, fixed: dict) -> bool:
  """Whether the fixed run's measure of `difficulty` is better than the plain run's."""
  smaller_is_better = MEASURES[difficulty][1]
  return (fixed["measure"] < plain["measure"]) == smaller_is_better and (
      fixed["measure"] != plain["measure"])
