"""The lecture's CNN vs DNN comparison, measured: parameters and test accuracy side by side."""

import json
import os

import jax

from gan_lab import models
from gan_lab.runs import loop, workdirs
from gan_lab.training import classifier

COMPARISON_FILE = "cnn_vs_mlp.json"


def compare_models(configs: dict, workdir: str) -> dict:
  """Trains each of {name: config} in <workdir>/<name> and compares them: the lecture's CNN
  vs DNN. Writes and returns {name: {model, params, test_accuracy, steps, workdir}} with the
  lecture's arithmetic (a 100x100 image into Dense(1000) against a 3x3 conv) beside them."""
  final = loop.train_many(configs, workdir)  # A run's last record holds its final eval.
  result = {"lecture_arithmetic": models.lecture_arithmetic()}
  for name, config in configs.items():
    shapes = jax.eval_shape(lambda c=config: classifier.init_state(c, jax.random.key(0), 1))
    result[name] = {"model": config.model, "params": models.param_count(shapes.params),
                    "test_accuracy": final[name]["test_accuracy"], "steps": final[name]["step"],
                    "workdir": final[name]["workdir"]}
  if jax.process_index() == 0:
    with open(os.path.join(workdirs.local_path(workdir), COMPARISON_FILE), "w") as f:
      json.dump(result, f, indent=2)
  return result
