"""Studies of attacks on trained classifiers: the numbers behind experiments/attack.py, the
black-box transfer table and the robustness comparison of several models.

Each restores classifier runs from their workdirs and evaluates them with
`gan_lab.training.attack_eval` (one jitted, device-parallel pass per eps).
"""

import dataclasses
import json
import os

import jax
import numpy as np
from absl import logging

from gan_lab import attacks, data, inference, viz
from gan_lab.attacks import AttackSpec
from gan_lab.core.errors import UserError
from gan_lab.runs import experiments, restore, workdirs
from gan_lab.training import attack_eval

RESULTS_FILE = "attack_results.json"


def _title(class_names, probs) -> str:
  k = int(np.argmax(probs))
  return f"{class_names[k]} ({probs[k]:.2f})"


def _kind(spec: AttackSpec) -> str:
  """"untargeted", or "targeted" and at which class, for figure titles."""
  if not spec.targeted:
    return "untargeted"
  return ("targeted at a random other class" if spec.target_class is None else
          f"targeted at class {spec.target_class}")


def columns(spec: AttackSpec, results: list[dict]) -> list[str]:
  """The columns of a results table: accuracy per attack and the worst case; AutoAttack's
  robust accuracy after each of its attacks; Square's queries; targeted success rates."""
  out = ["accuracy_clean", *(f"accuracy_{a}" for a in spec.attacks), "robust_accuracy"]
  out += [k for k in results[0] if k.startswith("autoattack_after_")]
  out += [k for k in results[0] if k.startswith("queries_")]
  if spec.targeted:
    out += [f"success_{a}" for a in spec.attacks]
  return out


def subset(split: dict, num_examples: int | None) -> dict:
  """The first `num_examples` examples of `split` (all by default): bounds the work on a CPU."""
  n = len(split["label"])
  if num_examples is None:
    return split
  if not 1 <= num_examples <= n:
    raise UserError(f"--num_examples must be in [1, {n}] (the test split has {n}); got "
                    f"{num_examples}.")
  return {k: v[:num_examples] for k, v in split.items()}


def attack_workdir(workdir: str, eps_list, spec: AttackSpec = AttackSpec(), *,
                   out: str | None = None, seed: int = 0, panda_eps: float | None = None,
                   num_panda: int = 4, num_examples: int | None = None) -> str:
  """Attacks the classifier in `workdir` on its test split; writes into `out` and returns it.

  `out` (default `<workdir>/attacks/<k>`, the next free k) gets attack_results.json,
  accuracy_vs_eps.png and panda.png: `num_panda` test images the model gets right,
  the strongest attack's perturbation at `panda_eps` (default the largest eps) and the
  adversarial image, each with the predicted class and its probability. Targeted,
  accuracy_vs_eps.png shows the targeted success rate instead of accuracy. `num_examples`:
  attack only the first that many test examples (the JSON says how many were used).
  """
  config, state, step = experiments.restore_classifier(workdir)
  ds = data.info(config.dataset)
  test = subset(data.load(config.dataset, "test", config.data_dir or None), num_examples)
  if spec.targeted and spec.target_class is not None:
    same = int(np.sum(test["label"] == spec.target_class))
    if same == len(test["label"]):
      raise UserError(f"Every test example is of target class {spec.target_class}; the "
                      "targeted attack would be empty. Pick another --target_class.")
    if same:
      logging.warning("%d test examples are of the target class %d already; they are left "
                      "out of the targeted success rate.", same, spec.target_class)
  if not spec.targeted and spec.target_class is not None:
    raise UserError("target_class is set but the attack is not targeted; add --targeted.")
  panda_eps = max(eps_list) if panda_eps is None else panda_eps
  for eps in (*eps_list, panda_eps):  # Before any work, and before --out is checked.
    attacks.check_linf_eps(eps, "--eps" if eps in eps_list else "--panda_eps")
  out = workdirs.writable_dir(out or workdirs.next_free_dir(
      os.path.join(workdirs.local_path(workdir), "attacks")))
  workdirs.refuse_existing(os.path.join(out, name) for name in (
      RESULTS_FILE, "accuracy_vs_eps.png", "panda.png"))
  results = attack_eval.evaluate(state, test, eps_list, spec, num_classes=ds.num_classes,
                                 seed=seed, batch_size=config.eval_batch_size,
                                 backend=config.parallel)
  warnings = attacks.sanity_checks(results, spec.targeted)
  for w in warnings:
    logging.warning("%s", w)
  short = restore.unfinished(workdir, config, step)  # Logged as it was restored.
  warnings += [short] if short else []
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, RESULTS_FILE), "w") as f:
    json.dump({"workdir": os.path.abspath(workdir), "step": step, "dataset": config.dataset,
               "num_examples": len(test["label"]), "seed": seed,
               "spec": dataclasses.asdict(spec), "results": results,
               "warnings": warnings}, f, indent=2)
  eps = [r["eps"] for r in results]
  if spec.targeted:  # What a targeted attack is after: examples sent to their target.
    series = {a: [r[f"success_{a}"] for r in results] for a in spec.attacks}
    ylabel = "targeted success rate"
  else:
    series = {n: [r["robust_accuracy" if n == "robust" else f"accuracy_{n}"] for r in results]
              for n in ("clean", *spec.attacks, "robust")}
    ylabel = "test accuracy"
  viz.attack_curves(eps, {config.model: series}, os.path.join(out, "accuracy_vs_eps.png"),
                    ylabel, f"{config.model} on {config.dataset}, {_kind(spec)}")

  # The panda figure: correctly classified test images and the strongest attack's result.
  fn = jax.jit(inference.logits_fn(state))
  x = inference.to_float(test["image"][:200])
  probs = np.asarray(jax.nn.softmax(fn(x)))
  right = np.flatnonzero(probs.argmax(-1) == test["label"][:200])[:num_panda]
  if not right.size:  # A model that gets none right: show what it does to the first images.
    right = np.arange(min(num_panda, len(x)))
  strongest = dataclasses.replace(spec, attacks=(spec.attacks[-1],))
  adv, _, _ = jax.jit(lambda x, y, i: attacks.craft(fn, x, y, i, panda_eps, jax.random.key(seed),
                                                 strongest, ds.num_classes))(
      x[right], test["label"][right], right.astype(np.int32))
  x_adv = adv[spec.attacks[-1]]
  adv_probs = np.asarray(jax.nn.softmax(fn(x_adv)))
  viz.adversarial_examples(x[right], x_adv, [_title(ds.class_names, p) for p in probs[right]],
                           [_title(ds.class_names, p) for p in adv_probs],
                           os.path.join(out, "panda.png"),
                           title=f"{spec.attacks[-1]} at eps {panda_eps:g}, {_kind(spec)}")
  return out


def _restore_on_one_dataset(runs: dict, num_examples: int | None = None):
  """({name: state} of classifier runs, their dataset's name, its test split or its first
  `num_examples`), read once."""
  restored = {name: experiments.restore_classifier(w) for name, w in runs.items()}
  datasets = {c.dataset for c, _, _ in restored.values()}
  if len(datasets) != 1:
    raise UserError("The classifiers were trained on different datasets "
                    f"({', '.join(sorted(datasets))}); compare models of one dataset.")
  config = next(iter(restored.values()))[0]
  test = subset(data.load(config.dataset, "test", config.data_dir or None), num_examples)
  return {name: state for name, (_, state, _) in restored.items()}, config.dataset, test


def _announced(states: dict, doing: str):
  """The items of `states`, each logged as its turn comes: the evaluations take minutes."""
  for i, (name, state) in enumerate(states.items()):
    logging.info("%s %s (%d of %d).", doing, name, i + 1, len(states))
    yield name, state


def compare(rows: dict, eps_list, spec: AttackSpec = AttackSpec(), *, seed: int = 0,
            num_examples: int | None = None) -> dict:
  """{row name: results per eps} for classifiers {name: workdir} on one dataset's test split
  (or its first `num_examples`), each attacked white-box."""
  states, dataset, test = _restore_on_one_dataset(rows, num_examples)
  num_classes = data.info(dataset).num_classes
  return {name: attack_eval.evaluate(state, test, eps_list, spec, num_classes=num_classes,
                                     seed=seed)
          for name, state in _announced(states, "Attacking")}


def transfer(target_workdir: str, surrogates: dict, eps_list, spec: AttackSpec = AttackSpec(),
             *, seed: int = 0) -> dict:
  """{crafted on: results per eps on the target}: "white-box" (the target) and each surrogate."""
  if "white-box" in surrogates:
    raise UserError("'white-box' names the target's own row; give the surrogate another name.")
  states, dataset, test = _restore_on_one_dataset({"white-box": target_workdir, **surrogates})
  num_classes = data.info(dataset).num_classes
  return {name: attack_eval.evaluate(states["white-box"], test, eps_list, spec,
                                     craft_state=state, num_classes=num_classes, seed=seed)
          for name, state in _announced(states, "Attacking the target with examples crafted "
                                        "on")}


def plot_rows(rows: dict, metric: str, attack_names, path: str, title: str) -> str:
  """`metric` ("accuracy" or "success") against eps, one line per (row, attack): a colour
  per attack and a line style per row."""
  eps = [r["eps"] for r in next(iter(rows.values()))]
  series = {name: {a: [r[f"{metric}_{a}"] for r in results] for a in attack_names}
            for name, results in rows.items()}
  return viz.attack_curves(eps, series, path, "test accuracy" if metric == "accuracy" else
                           "attack success rate", title)
