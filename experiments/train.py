"""Trains the experiment a config names, in --workdir; re-running the command resumes.

  python experiments/train.py --config=experiments/configs/seed_cnn_mnist5k.py --workdir=runs/demo \
      [--config.num_epochs=2 ...]
"""

import os

from absl import app, flags
from ml_collections import config_flags

from gan_lab import cli
from gan_lab.training.loop import train_and_evaluate

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (experiments/configs/).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and figures.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  workdir = os.path.abspath(_WORKDIR.value)
  print(f"Outputs in {workdir}: " + ", ".join(sorted(os.listdir(workdir))))


if __name__ == "__main__":
  cli.run(main)
