"""The lecture's comparison, measured: normal, noise-trained and adversarially trained models
on clean, noisy, FGSM and PGD test inputs.

  python experiments/robustness_report.py \
      --models=normal=runs/seed_cnn,noise=runs/adv_noise,fgsm=runs/adv_fgsm,pgd=runs/adv_pgd \
      --eps=0.1,0.2 --out=runs/robustness
  python experiments/robustness_report.py --models=normal=runs/seed_cnn,pgd=runs/adv_pgd \
      --attack=pgd,autoattack --pgd_steps=10 --eps=0.1 --num_examples=500 --out=runs/autoattack

Writes robustness.json and robustness.md. `robust_accuracy` is the per-example worst case
over clean and every attack run, not an average. Each model is checked for signs of
gradient masking (PGD weaker than FGSM; accuracy not falling towards 0 at large eps).
"""

import os

from absl import flags

from gan_lab import attacks
from gan_lab.core import cli
from gan_lab.studies import robustness, tables

_MODELS = flags.DEFINE_list("models", None, "name=workdir of each classifier.")
_EPS = flags.DEFINE_list("eps", ["0.1", "0.2"], "L-inf budgets, in [0, 1] pixel units.")
_ATTACK = flags.DEFINE_list("attack", list(attacks.DEFAULT_ATTACKS),
                            "Attacks: noise, fgsm, pgd, apgd-ce, apgd-t, fab-t, square, "
                            "autoattack.")
_PGD_STEPS = flags.DEFINE_integer("pgd_steps", 20, "PGD iterations.")
_NUM_EXAMPLES = flags.DEFINE_integer("num_examples", None, "Attack only the first N test "
                                     "examples (default all): bounds the work on a CPU.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of noise and random starts.")
_OUT = flags.DEFINE_string("out", None, "Output directory.")
flags.mark_flags_as_required(["models", "out"])


def main(argv):
  del argv
  tables.table_paths(_OUT.value, "robustness")  # Refuse an existing table before the work.
  spec = attacks.AttackSpec(attacks=tuple(_ATTACK.value), pgd_steps=_PGD_STEPS.value)
  rows = robustness.compare(cli.named_paths("--models", _MODELS.value),
                            cli.floats("--eps", _EPS.value), spec, seed=_SEED.value,
                            num_examples=_NUM_EXAMPLES.value)
  columns = robustness.columns(spec, next(iter(rows.values())))
  warnings = {name: attacks.sanity_checks(r) for name, r in rows.items()}
  path = tables.write_table(rows, columns, _OUT.value, "robustness", warnings=warnings,
                            num_examples=_NUM_EXAMPLES.value)
  figure = robustness.plot_rows(rows, "accuracy", spec.attacks,
                                os.path.join(os.path.dirname(path), "robustness.png"),
                                "test accuracy under attack, by model")
  print(f"Wrote {path} and {figure}")
  print(tables.markdown_table(*tables.by_eps(rows, columns)))
  for name, sentences in warnings.items():
    for sentence in sentences:
      print(f"warning: {name}: {sentence}")


if __name__ == "__main__":
  cli.run(main)
