"""Black-box transfer: attacks crafted on surrogate classifiers, scored on a target.

  python experiments/transfer.py --target=runs/seed_cnn \
      --surrogates=seed1=runs/seed_cnn_seed1,mlp=runs/mlp --eps=0.1,0.2 --out=runs/transfer

Writes transfer.json and transfer.md: per crafting model ("white-box" is the target itself)
and eps, the target's accuracy and the attacks' success rates (the share of the examples the
target gets right that the attack flips).
"""

import os

from absl import flags

from gan_lab import attacks
from gan_lab.core import cli
from gan_lab.studies import robustness, tables

_TARGET = flags.DEFINE_string("target", None, "Workdir of the attacked classifier.")
_SURROGATES = flags.DEFINE_list("surrogates", None, "name=workdir of each surrogate.")
_ATTACK = flags.DEFINE_list("attack", ["fgsm", "pgd"], "Attacks: fgsm, pgd (and noise).")
_EPS = flags.DEFINE_list("eps", ["0.1", "0.2"], "L-inf budgets, in [0, 1] pixel units.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of random starts.")
_OUT = flags.DEFINE_string("out", None, "Output directory.")
flags.mark_flags_as_required(["target", "surrogates", "out"])


def main(argv):
  del argv
  tables.table_paths(_OUT.value, "transfer")  # Refuse an existing table before the work.
  spec = attacks.AttackSpec(attacks=tuple(_ATTACK.value))
  rows = robustness.transfer(_TARGET.value, cli.named_paths("--surrogates", _SURROGATES.value),
                             cli.floats("--eps", _EPS.value), spec, seed=_SEED.value)
  columns = [f"{m}_{a}" for a in spec.attacks for m in ("accuracy", "success")]
  path = tables.write_table(rows, columns, _OUT.value, "transfer", target=_TARGET.value)
  figure = robustness.plot_rows(rows, "success", spec.attacks,
                                os.path.join(os.path.dirname(path), "transfer.png"),
                                "attack success on the target, by crafting model")
  print(f"Wrote {path} and {figure}")
  print(tables.markdown_table(*tables.by_eps(rows, columns)))


if __name__ == "__main__":
  cli.run(main)
