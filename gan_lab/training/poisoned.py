"""The poisoned experiment: the classifier, trained on a poisoned training split.

Training is the classifier's, on the split `gan_lab.poisoning` poisons as `config.poison`
says (seeded by `config.seed`); the test split stays clean. Every eval adds to the test loss
and accuracy what the attack achieved: `target_class_accuracy` and `attack_success` (see
`poisoning.attack_metrics`). `gan_lab.studies.poison_sweep` compares runs over fractions.
"""

import jax
import jax.numpy as jnp
from absl import logging

from gan_lab import data, inference, poisoning
from gan_lab.core.errors import UserError
from gan_lab.training import classifier


def check(config) -> None:
  """One sentence for a config that is not a valid poisoned run, before any work."""
  if "poison" not in config:
    raise UserError("Experiment 'poisoned' needs config.poison; start from "
                    "gan_lab.core.config.poison_config() (see experiments/configs/poison_*.py).")
  ds_info = data.info(config.dataset)
  poisoning.validate(config.poison, ds_info.num_classes, ds_info.image_shape[:2])


def prepare_data(config, train, test):
  """The training split poisoned as `config.poison` says; the test split as it is."""
  check(config)
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
      inference.logits_fn(state)(inference.to_float(images)), -1))

  def predictions(state, images):
    return inference.batched(lambda x: predict(state, x), images,
                             batch_size=config.eval_batch_size)

  def evaluate(state, step):
    metrics = clean(state, step)
    metrics.update(poisoning.attack_metrics(
        p, test["label"], predictions(state, test["image"]),
        None if triggered is None else predictions(state, triggered)))
    return metrics

  return evaluate
