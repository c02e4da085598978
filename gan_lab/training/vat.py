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

from gan_lab import attacks, data, parallel
from gan_lab.core.errors import UserError
from gan_lab.inference import to_float
from gan_lab.training import classifier
from gan_lab.training.state import apply_train

LABELED_FILE = "labeled_indices.json"


def init_state(config, rng, total_steps: int):
  if "vat" not in config:
    raise UserError("Experiment 'vat' needs config.vat; start from gan_lab.core.config.vat_config() "
                    "(see experiments/configs/vat_*.py).")
  v = config.vat
  if not (v.alpha >= 0 and v.entmin >= 0 and v.labels_per_class >= 0):
    raise UserError("config.vat needs alpha >= 0, entmin >= 0 and labels_per_class >= 0; got "
                    f"{v.alpha}, {v.entmin}, {v.labels_per_class}.")
  attacks.check_vat_args(v.eps, v.xi, v.num_iterations)
  return classifier.init_state(config, rng, total_steps)


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
    x_l, y = to_float(batch["image"]), batch["label"]
    x_u = to_float(batch["unlabeled"])
    dropout = jax.random.fold_in(rng, 0)

    def forward(st, params, x):
      return apply_train(st, params, x, dropout, axis_name)

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
