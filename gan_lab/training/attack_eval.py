"""Accuracy under attack over a whole split: one jitted, device-parallel pass per eps.

The pass crafts every attack of an `AttackSpec` on a batch with the *crafting* model and
scores the *target* model on the results: white-box when they are the same model, black-box
transfer when the crafting model is a surrogate. eps is an argument, so one compilation
serves a list of budgets. Random starts and noise are keyed by the example's index in the
split, so the numbers do not depend on the batch size or the number of devices.
"""

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from gan_lab import attacks, parallel
from gan_lab.core.errors import UserError
from gan_lab.inference import logits_fn, to_float
from gan_lab.training import chunks


def _eval_step(spec: attacks.AttackSpec, num_classes: int):
  """(states, batch with mask) -> sums of correct/fooled/hit counts per attack."""

  def step(states, batch):
    target_fn = logits_fn(states["target"])
    craft_fn = logits_fn(states["craft"])
    x, labels, mask = to_float(batch["image"]), batch["label"], batch["mask"]
    adv, extras, y = attacks.craft(craft_fn, x, labels, batch["index"], states["eps"],
                                   states["key"], spec, num_classes)
    clean_ok = jnp.argmax(target_fn(x), -1) == labels
    # A model whose input gradient is exactly 0 at many points masks it from every
    # gradient attack (a sign the masking checks read).
    g = attacks.input_gradient(target_fn, x, labels)
    flat = jnp.all(g.reshape(len(g), -1) == 0, axis=-1)
    sums = {"count": jnp.sum(mask), "correct_clean": jnp.sum(clean_ok * mask),
            "zero_gradient": jnp.sum(flat * mask)}
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
      fooled = clean_ok & ~ok & (mask > 0)
      for key, value in extras[name].items():
        if key == "queries":  # A histogram, for the mean and median over what Square broke.
          by_square = fooled & extras[name].get("fooled_by_square", True)
          sums[f"queries_{name}"] = jnp.zeros(spec.square_queries + 1, jnp.int32).at[
              value].add(by_square.astype(jnp.int32))
        else:  # AutoAttack: which of its attacks broke each example.
          sums[f"{key}_{name}"] = jnp.sum(value & (mask > 0))
    sums["correct_robust"] = jnp.sum(robust * mask)
    return sums

  return step


def _queries(histogram) -> dict:
  """Mean and median queries of the examples an attack broke (None when it broke none)."""
  histogram = np.asarray(histogram)
  total = int(histogram.sum())
  if not total:
    return {"mean": None, "median": None}
  cumulative = np.cumsum(histogram)
  return {"mean": float(np.dot(np.arange(len(histogram)), histogram) / total),
          "median": float(np.searchsorted(cumulative, (total + 1) / 2))}


def _metrics(spec: attacks.AttackSpec):

  def metrics(s):
    out = {"accuracy_clean": s["correct_clean"] / s["count"],
           "robust_accuracy": s["correct_robust"] / s["count"],
           "zero_gradient_share": s["zero_gradient"] / s["count"]}
    for name in spec.attacks:
      if f"queries_{name}" in s:
        q = _queries(s.pop(f"queries_{name}"))
        out[f"queries_mean_{name}"], out[f"queries_median_{name}"] = q["mean"], q["median"]
      if name == "autoattack":  # The AutoAttack table: robust accuracy after each attack.
        remaining = s["correct_clean"]
        for part in attacks.VERSIONS[spec.autoattack_version]:
          remaining = remaining - s.pop(f"fooled_by_{part}_{name}")
          out[f"autoattack_after_{part}"] = remaining / s["count"]
    for name in spec.attacks:
      out[f"accuracy_{name}"] = s[f"correct_{name}"] / s["count"]
      # Untargeted: of the examples the target model gets right, the share the attack flips.
      # Targeted: of the examples not already of the target class, the share sent there.
      out[f"success_{name}"] = (s[f"hit_{name}"] / jnp.maximum(s["eligible"], 1)
                                if spec.targeted else
                                s[f"fooled_{name}"] / jnp.maximum(s["correct_clean"], 1))
    return out

  return metrics


@functools.lru_cache(maxsize=8)
def make_evaluator(spec: attacks.AttackSpec, num_classes: int, mesh, *, seed: int = 0,
                   batch_size: int = 500, backend: str = "shard_map"):
  """evaluate(target_state, batcher, n, eps, craft_state=None) -> metrics at one eps.

  The batcher serves {"image", "label", "index"}; one compilation serves every eps, and
  (cached) every model of the same architecture: a comparison of several models, or the
  transfer from several surrogates, compiles its attacks once.
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
    attacks.check_linf_eps(eps)
    states = {"target": target_state, "craft": target_state if craft_state is None else
              craft_state, "eps": jnp.float32(eps)}
    return run({**jax.device_put(states, replicated), "key": key}, batcher, n)

  return evaluate


def evaluate(target_state, split: dict, eps_list, spec: attacks.AttackSpec = attacks.AttackSpec(),
             *, craft_state=None, num_classes: int = 10, seed: int = 0, batch_size: int = 500,
             mesh=None, backend: str = "shard_map") -> list[dict]:
  """[{eps, accuracy_clean, accuracy_<attack>, success_<attack>, robust_accuracy}] per eps.

  `split`: {"image": uint8, "label"}; `craft_state`: the surrogate that crafts the attacks
  (default: the target itself, white-box). `robust_accuracy` is the per-example worst case:
  an example counts only if the target model is right on it clean and under every attack.
  """
  for eps in eps_list:
    attacks.check_linf_eps(eps)
  mesh = mesh or parallel.make_mesh()
  n = len(split["label"])
  # No batch larger than the split: padding is real work for attacks that iterate.
  batch_size = min(batch_size, n)
  run = make_evaluator(spec, num_classes, mesh, seed=seed, batch_size=batch_size,
                       backend=backend)
  batcher = chunks.Batcher(chunks.with_index(split), mesh, on_device=jax.process_count() == 1)
  results, began = [], time.time()
  for i, eps in enumerate(eps_list):
    results.append({"eps": float(eps), **run(target_state, batcher, n, float(eps), craft_state)})
    # Long evaluations show progress, one line per budget.
    logging.info("Attacked %d examples at eps %g (%d of %d, %.0f s so far): robust accuracy "
                 "%.3f.", n, eps, i + 1, len(eps_list), time.time() - began,
                 results[-1]["robust_accuracy"])
  return results
