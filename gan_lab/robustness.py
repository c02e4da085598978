"""Accuracy under attack over a whole split: the numbers behind experiments/attack.py, the
black-box transfer table and the adversarial-training report.

One jitted, device-parallel pass per eps (eps is an argument, so one compilation serves the
list) crafts every attack on a batch with the *crafting* model and scores the *target* model
on the results: white-box when they are the same model, black-box transfer when the
crafting model is a surrogate. Random starts and noise are keyed by the example's index in
the split, so the numbers do not depend on the batch size or the number of devices.
"""

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from gan_lab import attacks, data, parallel, viz
from gan_lab.errors import UserError
from gan_lab.registry import Registry
from gan_lab.training import chunks, classifier

RESULTS_FILE = "attack_results.json"


def _noise(logits_fn, x, y, eps, keys, spec):
  del logits_fn, y, spec
  # Its own keys: the same keys would make PGD's start the noise's negative.
  return attacks.random_noise(x, eps, jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys))


def _fgsm(logits_fn, x, y, eps, keys, spec):
  del keys
  return attacks.fgsm(logits_fn, x, y, eps, targeted=spec.targeted)


def _pgd(logits_fn, x, y, eps, keys, spec):
  return attacks.pgd(logits_fn, x, y, eps, step_size=spec.pgd_step_size,
                     num_steps=spec.pgd_steps, targeted=spec.targeted,
                     rng=keys if spec.random_start else None)


# What AttackSpec.attacks names: fn(logits_fn, x, y, eps, keys, spec) -> adversarial x, with
# `y` the labels (targeted: the targets) and `keys` one random key per example. Add one with
# `ATTACKS.register`, or name "package.module:fn" of one's own (docs/extending.md).
ATTACKS = Registry("attack", {"noise": _noise, "fgsm": _fgsm, "pgd": _pgd})
DEFAULT_ATTACKS = ("noise", "fgsm", "pgd")


@dataclasses.dataclass(frozen=True)
class AttackSpec:
  """Which attacks to run and how; eps comes separately, one value per pass."""
  attacks: tuple[str, ...] = DEFAULT_ATTACKS
  pgd_steps: int = 10
  pgd_step_size: float | None = None   # None: 2.5 * eps / pgd_steps (Madry et al.).
  random_start: bool = True            # PGD from a random point of the eps-ball (else BIM).
  targeted: bool = False
  target_class: int | None = None      # Targeted: None = a random other class per example.

  def __post_init__(self):
    if not self.attacks:
      raise UserError(f"No attack given; choose from {', '.join(ATTACKS)}.")
    for name in self.attacks:
      ATTACKS.lookup(name)
    if self.pgd_steps < 1:
      raise UserError(f"pgd_steps must be >= 1; got {self.pgd_steps}.")
    if self.targeted and "noise" in self.attacks and len(self.attacks) == 1:
      raise UserError("Noise has no target; pick fgsm or pgd for a targeted attack.")


def target_labels(labels, index, key, num_classes: int, target_class: int | None):
  """The class each example is pushed towards: `target_class`, or a random other class."""
  if target_class is not None:
    return jnp.full_like(labels, target_class)
  shift = jax.vmap(lambda i: jax.random.randint(jax.random.fold_in(key, i), (), 1,
                                                num_classes))(index)
  return (labels + shift) % num_classes


def craft(logits_fn, x, labels, index, eps, key, spec: AttackSpec, num_classes: int) -> dict:
  """({attack name: adversarial images}, the labels attacked) for one batch.

  Targeted, the labels attacked are the targets; `index` keys all randomness.
  """
  target_key, start_key = jax.random.split(key)
  keys = jax.vmap(lambda i: jax.random.fold_in(start_key, i))(index)
  y = target_labels(labels, index, target_key, num_classes,
                    spec.target_class) if spec.targeted else labels
  return {name: ATTACKS.lookup(name)(logits_fn, x, y, eps, keys, spec)
          for name in spec.attacks}, y


def _eval_step(spec: AttackSpec, num_classes: int):
  """(states, batch with mask) -> sums of correct/fooled/hit counts per attack."""

  def step(states, batch):
    target_fn = classifier.logits_fn(states["target"])
    craft_fn = classifier.logits_fn(states["craft"])
    x, labels, mask = classifier.to_float(batch["image"]), batch["label"], batch["mask"]
    adv, y = craft(craft_fn, x, labels, batch["index"], states["eps"], states["key"], spec,
                   num_classes)
    clean_ok = jnp.argmax(target_fn(x), -1) == labels
    sums = {"count": jnp.sum(mask), "correct_clean": jnp.sum(clean_ok * mask)}
    robust = clean_ok
    eligible = (labels != y) * mask  # Targeted: examples already of the target class are out.
    sums["eligible"] = jnp.sum(eligible)
    for name, x_adv in adv.items():
      pred = jnp.argmax(target_fn(x_adv), -1)
      ok = pred == labels
      robust = robust & ok
      sums[f"correct_{name}"] = jnp.sum(ok * mask)
      sums[f"fooled_{name}"] = jnp.sum(clean_ok * ~ok * mask)
      sums[f"hit_{name}"] = jnp.sum((pred == y) * eligible)
    sums["correct_robust"] = jnp.sum(robust * mask)
    return sums

  return step


def _metrics(spec: AttackSpec):

  def metrics(s):
    out = {"accuracy_clean": s["correct_clean"] / s["count"],
           "robust_accuracy": s["correct_robust"] / s["count"]}
    for name in spec.attacks:
      out[f"accuracy_{name}"] = s[f"correct_{name}"] / s["count"]
      # Untargeted: of the examples the target model gets right, the share the attack flips.
      # Targeted: of the examples not already of the target class, the share sent there.
      out[f"success_{name}"] = (s[f"hit_{name}"] / jnp.maximum(s["eligible"], 1)
                                if spec.targeted else
                                s[f"fooled_{name}"] / jnp.maximum(s["correct_clean"], 1))
    return out

  return metrics


def make_evaluator(spec: AttackSpec, num_classes: int, mesh, *, seed: int = 0,
                   batch_size: int = 500, backend: str = "shard_map"):
  """evaluate(target_state, batcher, n, eps, craft_state=None) -> metrics at one eps.

  The batcher serves {"image", "label", "index"}; one compilation serves every eps.
  """
  if spec.targeted and spec.target_class is not None and not (
      0 <= spec.target_class < num_classes):
    raise UserError(f"target_class must be in [0, {num_classes}); got {spec.target_class}.")
  batch_size = -(-batch_size // mesh.size) * mesh.size
  run = chunks.make_scan_evaluate(_eval_step(spec, num_classes), _metrics(spec), batch_size,
                                  mesh, backend)
  replicated = parallel.replicated(mesh)
  key = jax.device_put(jax.random.key(seed), replicated)

  def evaluate(target_state, batcher, n: int, eps: float, craft_state=None) -> dict:
    attacks.check_args(None, eps, (0.0, 1.0))
    states = {"target": target_state, "craft": target_state if craft_state is None else
              craft_state, "eps": jnp.float32(eps)}
    return run({**jax.device_put(states, replicated), "key": key}, batcher, n)

  return evaluate


def evaluate(target_state, split: dict, eps_list, spec: AttackSpec = AttackSpec(), *,
             craft_state=None, num_classes: int = 10, seed: int = 0, batch_size: int = 500,
             mesh=None, backend: str = "shard_map") -> list[dict]:
  """[{eps, accuracy_clean, accuracy_<attack>, success_<attack>, robust_accuracy}] per eps.

  `split`: {"image": uint8, "label"}; `craft_state`: the surrogate that crafts the attacks
  (default: the target itself, white-box). `robust_accuracy` is the per-example worst case:
  an example counts only if the target model is right on it clean and under every attack.
  """
  for eps in eps_list:
    attacks.check_args(None, eps, (0.0, 1.0))
  mesh = mesh or parallel.make_mesh()
  run = make_evaluator(spec, num_classes, mesh, seed=seed, batch_size=batch_size,
                       backend=backend)
  batcher = chunks.Batcher(chunks.with_index(split), mesh, on_device=jax.process_count() == 1)
  n = len(split["label"])
  return [{"eps": float(eps), **run(target_state, batcher, n, float(eps), craft_state)}
          for eps in eps_list]


def sanity_checks(results: list[dict], targeted: bool = False) -> list[str]:
  """Warnings for signs of gradient masking (Athalye et al. 2018; Carlini et al. 2019):
  PGD, FGSM's iterated form, doing worse than FGSM, and accuracy that does not fall
  towards 0 as eps grows large."""
  out = []
  metric, worse = ("success", lambda a, b: a < b - 0.01) if targeted else (
      "accuracy", lambda a, b: a > b + 0.01)
  for r in results:
    pgd, fgsm = r.get(f"{metric}_pgd"), r.get(f"{metric}_fgsm")
    if pgd is not None and fgsm is not None and worse(pgd, fgsm):
      out.append(f"PGD is weaker than FGSM at eps {r['eps']:g} ({metric} {pgd:.3f} vs "
                 f"{fgsm:.3f}): a sign of gradient masking, or too few PGD steps.")
  largest = max(results, key=lambda r: r["eps"])
  strongest = next((k for k in ("accuracy_pgd", "accuracy_fgsm") if k in largest), None)
  if strongest and not targeted and largest["eps"] >= 0.3:
    clean, last = largest["accuracy_clean"], largest[strongest]
    if last > 0.5 * clean:
      out.append(f"Accuracy under {strongest[9:].upper()} is still {last:.3f} at eps "
                 f"{largest['eps']:g} (clean {clean:.3f}): a sign of gradient masking.")
  return out


def _next_dir(parent: str) -> str:
  """parent/1, parent/2, ...: the first that does not exist, so no result is overwritten."""
  k = 1
  while os.path.exists(os.path.join(parent, str(k))):
    k += 1
  return os.path.join(parent, str(k))


def _title(class_names, probs) -> str:
  k = int(np.argmax(probs))
  return f"{class_names[k]} ({probs[k]:.2f})"


def attack_workdir(workdir: str, eps_list, spec: AttackSpec = AttackSpec(), *,
                   out: str | None = None, seed: int = 0, panda_eps: float | None = None,
                   num_panda: int = 4) -> str:
  """Attacks the classifier in `workdir` on its test split; writes into `out` and returns it.

  `out` (default `<workdir>/attacks/<k>`, the next free k) gets attack_results.json,
  accuracy_vs_eps.png and panda.png: `num_panda` test images the model gets right,
  the strongest attack's perturbation at `panda_eps` (default the largest eps) and the
  adversarial image, each with the predicted class and its probability.
  """
  config, state, step = classifier.restore(workdir)
  ds = data.info(config.dataset)
  test = data.load(config.dataset, "test", config.data_dir or None)
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
  attacks.check_args(None, panda_eps, (0.0, 1.0))
  out = out or _next_dir(os.path.join(workdir, "attacks"))
  for name in (RESULTS_FILE, "accuracy_vs_eps.png", "panda.png"):
    if os.path.exists(os.path.join(out, name)):
      raise UserError(f"{out} already holds {name}; choose another --out so that nothing is "
                      "overwritten.")
  results = evaluate(state, test, eps_list, spec, num_classes=ds.num_classes, seed=seed,
                     batch_size=config.eval_batch_size, backend=config.parallel)
  warnings = sanity_checks(results, spec.targeted)
  for w in warnings:
    logging.warning("%s", w)
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, RESULTS_FILE), "w") as f:
    json.dump({"workdir": os.path.abspath(workdir), "step": step, "dataset": config.dataset,
               "seed": seed, "spec": dataclasses.asdict(spec), "results": results,
               "warnings": warnings}, f, indent=2)
  eps = [r["eps"] for r in results]
  names = ["clean", *spec.attacks, "robust"]
  series = {n: [r["robust_accuracy" if n == "robust" else f"accuracy_{n}"] for r in results]
            for n in names}
  viz.metric_curves(eps, series, os.path.join(out, "accuracy_vs_eps.png"), "eps (L-inf)",
                    "test accuracy", f"{config.model} on {config.dataset}" +
                    (" (targeted)" if spec.targeted else ""))

  # The panda figure: correctly classified test images and the strongest attack's result.
  fn = jax.jit(classifier.logits_fn(state))
  x = classifier.to_float(test["image"][:200])
  probs = np.asarray(jax.nn.softmax(fn(x)))
  right = np.flatnonzero(probs.argmax(-1) == test["label"][:200])[:num_panda]
  if not right.size:  # A model that gets none right: show what it does to the first images.
    right = np.arange(min(num_panda, len(x)))
  strongest = dataclasses.replace(spec, attacks=(spec.attacks[-1],))
  adv, _ = jax.jit(lambda x, y, i: craft(fn, x, y, i, panda_eps, jax.random.key(seed),
                                         strongest, ds.num_classes))(
      x[right], test["label"][right], right.astype(np.int32))
  x_adv = adv[spec.attacks[-1]]
  adv_probs = np.asarray(jax.nn.softmax(fn(x_adv)))
  viz.adversarial_examples(x[right], x_adv, [_title(ds.class_names, p) for p in probs[right]],
                           [_title(ds.class_names, p) for p in adv_probs],
                           os.path.join(out, "panda.png"))
  return out


def _restore_on_one_dataset(workdirs: dict):
  """({name: state} of classifier runs, their dataset's name, its test split), read once."""
  restored = {name: classifier.restore(w) for name, w in workdirs.items()}
  datasets = {c.dataset for c, _, _ in restored.values()}
  if len(datasets) != 1:
    raise UserError("The classifiers were trained on different datasets "
                    f"({', '.join(sorted(datasets))}); compare models of one dataset.")
  config = next(iter(restored.values()))[0]
  test = data.load(config.dataset, "test", config.data_dir or None)
  return {name: state for name, (_, state, _) in restored.items()}, config.dataset, test


def compare(rows: dict, eps_list, spec: AttackSpec = AttackSpec(), *, seed: int = 0) -> dict:
  """{row name: results per eps} for classifiers {name: workdir} on one dataset's test split,
  each attacked white-box."""
  states, dataset, test = _restore_on_one_dataset(rows)
  return {name: evaluate(state, test, eps_list, spec, num_classes=data.info(dataset).num_classes,
                         seed=seed)
          for name, state in states.items()}


def transfer(target_workdir: str, surrogates: dict, eps_list, spec: AttackSpec = AttackSpec(),
             *, seed: int = 0) -> dict:
  """{crafted on: results per eps on the target}: "white-box" (the target) and each surrogate."""
  if "white-box" in surrogates:
    raise UserError("'white-box' names the target's own row; give the surrogate another name.")
  states, dataset, test = _restore_on_one_dataset({"white-box": target_workdir, **surrogates})
  return {name: evaluate(states["white-box"], test, eps_list, spec, craft_state=state,
                         num_classes=data.info(dataset).num_classes, seed=seed)
          for name, state in states.items()}


def plot_rows(rows: dict, metric: str, attack_names, path: str, title: str) -> str:
  """`metric` ("accuracy" or "success") against eps, one line per (row, attack)."""
  eps = [r["eps"] for r in next(iter(rows.values()))]
  series = {f"{name}, {a}": [r[f"{metric}_{a}"] for r in results]
            for name, results in rows.items() for a in attack_names}
  return viz.metric_curves(eps, series, path, "eps (L-inf)", metric, title)


def markdown_table(rows: dict, columns: list[str]) -> str:
  """A markdown table: one line per (row name, eps), one column per metric."""
  lines = ["| model | eps | " + " | ".join(columns) + " |",
           "|---|---|" + "---|" * len(columns)]
  for name, results in rows.items():
    for r in results:
      lines.append(f"| {name} | {r['eps']:g} | " +
                   " | ".join(f"{r[c]:.3f}" if c in r else "" for c in columns) + " |")
  return "\n".join(lines) + "\n"


def table_paths(out: str, name: str) -> list[str]:
  """`out`/`name`.json and .md; refuses (before any work, when called first) existing ones."""
  paths = [os.path.join(out, f"{name}.{ext}") for ext in ("json", "md")]
  for path in paths:
    if os.path.exists(path):
      raise UserError(f"{path} exists; choose another --out so that nothing is overwritten.")
  return paths


def write_table(rows: dict, columns: list[str], out: str, name: str, **meta) -> str:
  """`out`/`name`.json (rows and `meta`) and `out`/`name`.md; refuses to overwrite either."""
  paths = table_paths(out, name)
  os.makedirs(out, exist_ok=True)
  with open(paths[0], "w") as f:
    json.dump({**meta, "rows": rows}, f, indent=2)
  with open(paths[1], "w") as f:
    f.write(markdown_table(rows, columns))
  return paths[1]
