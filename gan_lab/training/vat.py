"""Virtual adversarial training (Miyato et al. 2018): semi-supervised, or as a regulariser.

Each step draws a labelled and an unlabelled batch together: the training split is paired
row by row, every image once as unlabelled (`unlabeled`) beside a labelled example
(`image`, `label`) cycled from the `vat.labels_per_class` labelled subset (all labels when
0, which is supervised VAT). The loss is

  CE(labelled) + alpha * KL(p(y|x_u) || p(y|x_u + r_adv)) [+ entmin * H(p(y|x_u))]

with r_adv from `attacks.vat_perturbation`. alpha = 0 is the supervised baseline on the
same labels, batches and steps. The perturbed passes run in training mode (batch
statistics, the same dropout masks as the clean pass) but their BatchNorm updates are
discarded: only the clean passes update the running averages.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_lab import attacks, data, parallel, viz, writers
from gan_lab.errors import UserError
from gan_lab.training import classifier

LABELED_FILE = "labeled_indices.json"


def init_state(config, rng, total_steps: int, axis_name: str | None = parallel.AXIS):
  if "vat" not in config:
    raise UserError("Experiment 'vat' needs config.vat; start from gan_lab.config.vat_config() "
                    "(see experiments/configs/vat_*.py).")
  v = config.vat
  if not (v.alpha >= 0 and v.entmin >= 0 and v.labels_per_class >= 0):
    raise UserError("config.vat needs alpha >= 0, entmin >= 0 and labels_per_class >= 0; got "
                    f"{v.alpha}, {v.entmin}, {v.labels_per_class}.")
  attacks.check_vat_args(v.eps, v.xi, v.num_iterations)
  return classifier.init_state(config, rng, total_steps, axis_name)


def labeled_indices(config, labels: np.ndarray) -> np.ndarray:
  per_class = config.vat.labels_per_class
  if per_class == 0:
    return np.arange(len(labels))
  return data.labeled_subset(labels, per_class, config.seed)


def prepare_data(config, train, test):
  """The training split paired row by row: unlabelled image i beside a labelled example."""
  labeled = labeled_indices(config, train["label"])
  partner = labeled[np.arange(len(train["label"])) % len(labeled)]
  return {"image": train["image"][partner], "label": train["label"][partner],
          "unlabeled": train["image"]}, test


def write_run_files(config, workdir: str, train, test) -> None:
  """<workdir>/labeled_indices.json: which training examples kept their labels."""
  del test
  labels = train["label"]
  path = os.path.join(workdir, LABELED_FILE)
  with open(path + ".tmp", "w") as f:
    json.dump({"labels_per_class": config.vat.labels_per_class, "seed": config.seed,
               "indices": labeled_indices(config, labels).tolist()}, f)
  os.replace(path + ".tmp", path)


def make_train_step(config):
  v = config.vat

  def train_step(state, batch, rng, *, axis_name=None):
    x_l, y = classifier.to_float(batch["image"]), batch["label"]
    x_u = classifier.to_float(batch["unlabeled"])
    dropout = {"dropout": jax.random.fold_in(rng, 0)}

    def forward(st, params, x):
      logits, updates = st.apply_fn(st.replace(params=params).variables(), x, train=True,
                                    rngs=dropout, mutable=["batch_stats"])
      return logits, st.replace(batch_stats=updates.get("batch_stats", state.batch_stats))

    def loss_fn(params):
      logits_l, st = forward(state, params, x_l)
      logits_u, st = forward(st, params, x_u)
      ce = optax.softmax_cross_entropy_with_integer_labels(logits_l, y).mean()
      frozen = jax.lax.stop_gradient(params)
      r_adv = attacks.vat_perturbation(lambda x: forward(st, frozen, x)[0], x_u,
                                       jax.random.fold_in(rng, 1), eps=v.eps, xi=v.xi,
                                       num_iterations=v.num_iterations, clean_logits=logits_u,
                                       axis_name=axis_name)
      vat = attacks.vat_loss(logits_u, forward(st, params, x_u + r_adv)[0])
      entropy = attacks.entropy_loss(logits_u)
      loss = ce + v.alpha * vat + v.entmin * entropy
      return loss, (st, logits_l, {"ce": ce, "vat_loss": vat, "entropy": entropy})

    (loss, (st, logits_l, parts)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params)
    grads = parallel.pmean(grads, axis_name)
    state = st.apply_gradients(grads=grads)
    metrics = {"loss": loss, **parts, "accuracy": jnp.mean(jnp.argmax(logits_l, -1) == y),
               "grad_norm": optax.tree.norm(grads)}
    return state, parallel.pmean(metrics, axis_name)

  return train_step


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
  from gan_lab.training import loop  # pylint: disable=g-import-not-at-top  # loop imports us.
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
