"""Adversarial training: the classifier trained on a mix of clean and attacked examples.

Goodfellow et al. (2015): loss = alpha * CE(x) + (1 - alpha) * CE(fgsm(x)), alpha 0.5.
Madry et al. (2018): PGD from a random start, alpha 0 (adversarial examples only).
Zhang et al. (2019), TRADES: loss = CE(x) + beta * KL(p(x) || p(x_adv)), beta 6, with
x_adv the point of the eps-ball that maximises that KL (`attacks.trades_perturbation`).
The noise baseline: the same mix with random-sign noise of the same L-inf size.

Attacks are crafted on the current parameters in inference mode (they must not change
BatchNorm statistics or depend on dropout keys); the loss then runs in training mode on the
clean and attacked halves together. PGD's and TRADES' random starts come from
`parallel.example_keys`, so a step gives the same numbers however the batch is split over
devices.
"""

import jax
import jax.numpy as jnp
import optax
from absl import logging

from gan_lab import attacks, data, parallel
from gan_lab.core.config import adversarial_config
from gan_lab.core.errors import UserError
from gan_lab.inference import logits_fn, to_float
from gan_lab.training import attack_eval, classifier

METHODS = ("fgsm", "pgd", "trades", "noise")


def init_state(config, rng, total_steps: int):
  if "adv" not in config:
    raise UserError("Experiment 'adversarial' needs config.adv; start from "
                    "gan_lab.core.config.adversarial_config() (see experiments/configs/adv_*.py).")
  a = config.adv
  if a.method not in METHODS:
    raise UserError(f"Unknown config.adv.method {a.method!r}; choose one of "
                    f"{', '.join(METHODS)}.")
  attacks.check_linf_eps(a.eps, "config.adv.eps")
  if not (a.eps > 0 and 0.0 <= a.alpha <= 1.0 and a.pgd_steps >= 1 and a.step_size >= 0
          and a.eval_pgd_steps >= 1):
    raise UserError("config.adv needs eps > 0, 0 <= alpha <= 1, pgd_steps >= 1, step_size >= 0 "
                    f"and eval_pgd_steps >= 1; got {a.eps}, {a.alpha}, {a.pgd_steps}, "
                    f"{a.step_size}, {a.eval_pgd_steps}.")
  # Only for trades: runs of the other methods from before adv.beta existed still restore.
  if a.method == "trades" and not a.beta >= 0:
    raise UserError(f"config.adv.beta, the weight of TRADES' KL term, must be >= 0; got {a.beta}.")
  return classifier.init_state(config, rng, total_steps)


def perturb(config, state, x, y, rng, axis_name=None):
  """The attacked copy of the batch for `config.adv.method`, on the current parameters."""
  a = config.adv
  fn = logits_fn(state)
  if a.method == "fgsm":
    x_adv = attacks.fgsm(fn, x, y, a.eps)
  elif a.method == "pgd":
    x_adv = attacks.pgd(fn, x, y, a.eps, step_size=a.step_size or None,
                        num_steps=a.pgd_steps, rng=rng, axis_name=axis_name)
  elif a.method == "trades":
    x_adv = attacks.trades_perturbation(fn, x, a.eps, rng, step_size=a.step_size or None,
                                        num_steps=a.pgd_steps, axis_name=axis_name)
  else:
    x_adv = attacks.random_noise(x, a.eps, rng, axis_name=axis_name)
  return jax.lax.stop_gradient(x_adv)


def trades_loss(y, beta: float):
  """TRADES' loss of the logits of the interleaved (x, x_adv) batch, for `classifier.update`:
  CE(x) + beta * KL(p(x) || p(x_adv)), both halves from one training-mode pass.

  One clean pass serves the CE and the KL; the reference runs the clean images twice, so
  with dropout its CE and its KL target see different masks.
  """

  def loss(logits):
    clean, adv = logits[0::2], logits[1::2]
    # As yaodongyu/TRADES: the clean distribution is not held constant (unlike VAT's
    # `vat_loss`); the KL's gradient goes through both halves.
    kl = jnp.mean(attacks.kl_from_logits(clean, adv))
    return classifier.cross_entropy(y)(clean) + beta * kl

  return loss


def make_train_step(config):
  """(state, batch, rng) -> (state, metrics), as the classifier's step, on the mix (trades:
  on its loss)."""
  a = config.adv
  if a.method == "trades" and a.alpha != adversarial_config().adv.alpha:
    logging.warning("config.adv.alpha %s is not used by method trades, whose KL term is "
                    "weighted by config.adv.beta (%s).", a.alpha, a.beta)

  def train_step(state, batch, rng, *, axis_name=None):
    x, y = to_float(batch["image"]), batch["label"]
    x_adv = perturb(config, state, x, y, jax.random.fold_in(rng, 1), axis_name)
    # Interleaved (x_0, x_adv_0, x_1, ...): example i sits at 2i and 2i + 1 on any device
    # split, so its dropout masks do not depend on the number of devices.
    both = jnp.stack([x, x_adv], axis=1).reshape(2 * len(x), *x.shape[1:])
    labels = jnp.repeat(y, 2)
    dropout = jax.random.fold_in(rng, 0)

    if a.method == "trades":
      loss = trades_loss(y, a.beta)
    else:
      weights = jnp.tile(jnp.array([a.alpha, 1.0 - a.alpha]), len(x))
      loss = lambda logits: jnp.sum(
          weights * optax.softmax_cross_entropy_with_integer_labels(logits, labels)) / len(x)
    state, logits, loss, grads = classifier.update(state, both, loss, dropout, axis_name)
    correct = jnp.argmax(logits, -1) == labels
    metrics = {"loss": loss, "accuracy": jnp.mean(correct[0::2]),
               "adv_accuracy": jnp.mean(correct[1::2]), "grad_norm": optax.tree.norm(grads)}
    return state, parallel.pmean(metrics, axis_name)

  return train_step


def make_evaluate(config, mesh, test_batches, n: int, workdir: str):
  """The classifier's loss and accuracy, plus accuracy under noise, FGSM and PGD at
  config.adv.eps and the per-example worst case (`robust_accuracy`)."""
  clean = classifier.make_evaluate(config, mesh, test_batches, n, workdir)
  spec = attacks.AttackSpec(pgd_steps=config.adv.eval_pgd_steps)
  attacked = attack_eval.make_evaluator(
      spec, data.info(config.dataset).num_classes, mesh, seed=config.seed,
      batch_size=config.eval_batch_size, backend=config.parallel)

  def evaluate(state, step):
    scores = attacked(state, test_batches, n, config.adv.eps)
    return {**clean(state, step), "robust_accuracy": scores["robust_accuracy"],
            **{f"accuracy_{a}": scores[f"accuracy_{a}"] for a in spec.attacks}}

  return evaluate
