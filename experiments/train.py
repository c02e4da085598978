"""Trains the experiment a config names, in --workdir; re-running the command resumes.

  python experiments/train.py --config=experiments/configs/seed_cnn_mnist5k.py --workdir=runs/demo \
      [--config.num_epochs=2 ...]
"""

import os

from absl import app, flags, logging
from ml_collections import config_flags

import jax

from gan_lab import parallel
from gan_lab.core import cli
from gan_lab.runs.loop import train_and_evaluate

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (experiments/configs/).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and figures.")
flags.mark_flags_as_required(["config", "workdir"])
# Many hosts: the usual jax.distributed.initialize settings. --distributed alone lets JAX find
# them itself (TPU pods, SLURM, Open MPI); the others set them by hand.
_DISTRIBUTED = flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize().")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index.")
_INIT_TIMEOUT = flags.DEFINE_integer("initialization_timeout", 300,
                                     "Seconds to wait for all processes to join.")
_RESTART = flags.DEFINE_bool("restart", False, "Start over in a workdir whose results have no "
                             "checkpoint; the old results are moved to <workdir>/previous/<k>.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if _DISTRIBUTED.value or _COORDINATOR.value or _NUM_PROCESSES.value:
    parallel.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                                    _INIT_TIMEOUT.value)
  logging.info("JAX process %d of %d, %d devices (%d local).", jax.process_index(),
               jax.process_count(), jax.device_count(), jax.local_device_count())
  train_and_evaluate(_CONFIG.value, _WORKDIR.value, restart=_RESTART.value)
  workdir = os.path.abspath(_WORKDIR.value)
  if jax.process_index() == 0:
    print(f"Outputs in {workdir}: " + ", ".join(sorted(os.listdir(workdir))))


if __name__ == "__main__":
  cli.run(main)
