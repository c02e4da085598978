"""Clean accuracy, target-class accuracy and attack success vs the poison fraction.

  python experiments/poison_sweep.py --config=experiments/configs/poison_backdoor_mnist5k.py \
      --workdir=runs/backdoor --fractions=0,0.01,0.05,0.1

Trains (or resumes) one run per fraction in <workdir>/fraction_<f>, then writes
<workdir>/poison_results.json and <workdir>/poison_curve.png and prints the table.
"""

import os

from absl import flags
from ml_collections import config_flags

from gan_lab.core import cli
from gan_lab.studies import poison_sweep

_CONFIG = config_flags.DEFINE_config_file("config", None,
                                          "A poisoning config (experiments/configs/poison_*.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Holds one run per fraction and the results.")
_FRACTIONS = flags.DEFINE_list("fractions", "0,0.05,0.1,0.2",
                               "Poison fractions, each overriding config.poison.fraction.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  fractions = cli.floats("--fractions", _FRACTIONS.value)
  result = poison_sweep.sweep(_CONFIG.value, _WORKDIR.value, fractions)
  print(f"{'fraction':>8} {'clean acc':>10} {'target-class acc':>17} {'attack success':>15}")
  for r in result["runs"]:
    print(f"{r['fraction']:>8g} {r['test_accuracy']:>10.4f} "
          f"{r['test_target_class_accuracy']:>17.4f} {r['test_attack_success']:>15.4f}")
  workdir = os.path.abspath(_WORKDIR.value)
  print(f"Results in {os.path.join(workdir, poison_sweep.RESULTS_FILE)} and "
        f"{os.path.join(workdir, poison_sweep.CURVE_FILE)}")


if __name__ == "__main__":
  cli.run(main)
