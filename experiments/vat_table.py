"""Test error of supervised-100, VAT-100, VAT+EntMin-100 and supervised-all, over seeds.

  python experiments/vat_table.py --config=experiments/configs/vat_mnist5k.py \
      --workdir=runs/vat --seeds=0,1,2

Trains (or resumes) every variant of the config for each seed in <workdir>/<variant>_seed<s>
(the same model, steps and batches; only alpha, entmin and the labels differ), then writes
<workdir>/vat_results.json and prints the table.
"""

import os

from absl import flags
from ml_collections import config_flags

from gan_lab.core import cli
from gan_lab.core.errors import UserError
from gan_lab.studies import tables, vat_comparison

_CONFIG = config_flags.DEFINE_config_file("config", None, "A VAT config.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Holds one run per variant and seed.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (each picks its own labels too).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  try:
    seeds = [int(s) for s in _SEEDS.value]
  except ValueError as e:
    raise UserError(f"--seeds takes integers separated by commas; got "
                        f"{','.join(_SEEDS.value)}.") from e
  table = vat_comparison.compare(_CONFIG.value, _WORKDIR.value, seeds)
  print("| variant | test error, mean ± std | per seed |\n|---|---|---|")
  for name, row in table.items():
    per_seed = ", ".join(f"{e:.3f}" for e in row["test_error"])
    print(f"| {name} | {tables.mean_std(row['test_error'])} | {per_seed} |")
  workdir = os.path.abspath(_WORKDIR.value)
  print(f"Results in {os.path.join(workdir, vat_comparison.RESULTS_FILE)} and "
        f"{os.path.join(workdir, vat_comparison.CURVES_FILE)}")


if __name__ == "__main__":
  cli.run(main)
