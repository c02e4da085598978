"""Attacks a trained classifier on its test split: accuracy vs eps for clean, noise, FGSM, PGD,
or AutoAttack and its parts (apgd-ce, apgd-t, fab-t, square).

  python experiments/attack.py --workdir=runs/seed_cnn --attack=noise,fgsm,pgd \
      --eps=0,0.05,0.1,0.2,0.3 [--targeted --target_class=3]
  python experiments/attack.py --workdir=runs/seed_cnn --attack=pgd,autoattack --eps=0.1 \
      --num_examples=200

Writes attack_results.json, accuracy_vs_eps.png and panda.png (original | perturbation |
adversarial, with predicted class and confidence) into --out, by default
<workdir>/attacks/<k> (the next free k): no earlier result is overwritten.
"""

from absl import flags

from gan_lab import attacks
from gan_lab.core import cli
from gan_lab.runs import workdirs
from gan_lab.studies import robustness, tables

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a classifier run.")
_ATTACK = flags.DEFINE_list("attack", list(attacks.DEFAULT_ATTACKS),
                            "Attacks: noise, fgsm, pgd, or module:fn of your own.")
_EPS = flags.DEFINE_list("eps", ["0", "0.05", "0.1", "0.2", "0.3"],
                         "L-inf budgets, in [0, 1] pixel units.")
_TARGETED = flags.DEFINE_bool("targeted", False, "Push examples towards a target class.")
_TARGET = flags.DEFINE_integer("target_class", None, "Target class (default: a random other "
                               "class per example).")
_PGD_STEPS = flags.DEFINE_integer("pgd_steps", 10, "PGD iterations.")
_PGD_STEP_SIZE = flags.DEFINE_float("pgd_step_size", None, "PGD step (default 2.5 eps / steps).")
_RANDOM_START = flags.DEFINE_bool("random_start", True, "PGD from a random point (else BIM).")
_PANDA_EPS = flags.DEFINE_float("panda_eps", None, "eps of panda.png (default: the largest).")
_APGD_STEPS = flags.DEFINE_integer("apgd_steps", 100, "APGD and FAB iterations.")
_QUERIES = flags.DEFINE_integer("num_queries", 5000, "Square's query budget.")
_VERSION = flags.DEFINE_string("version", "standard", "AutoAttack version: standard (APGD-CE, "
                               "APGD-T, FAB-T, Square) or fast (APGD-CE, APGD-T).")
_NUM_EXAMPLES = flags.DEFINE_integer("num_examples", None, "Attack only the first N test "
                                     "examples (default all): bounds the work on a CPU.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of noise, random starts and random targets.")
_OUT = flags.DEFINE_string("out", None, "Output directory (default <workdir>/attacks/<k>).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  spec = attacks.AttackSpec(
      attacks=tuple(_ATTACK.value), pgd_steps=_PGD_STEPS.value,
      pgd_step_size=_PGD_STEP_SIZE.value, random_start=_RANDOM_START.value,
      targeted=_TARGETED.value, target_class=_TARGET.value, apgd_steps=_APGD_STEPS.value,
      square_queries=_QUERIES.value, autoattack_version=_VERSION.value)
  out = robustness.attack_workdir(_WORKDIR.value, cli.floats("--eps", _EPS.value), spec,
                                  out=_OUT.value, seed=_SEED.value, panda_eps=_PANDA_EPS.value,
                                  num_examples=_NUM_EXAMPLES.value)
  written = workdirs.read_json(f"{out}/{robustness.RESULTS_FILE}")
  results = written["results"]
  print(f"On {written['num_examples']} test examples:")
  print(tables.markdown_table(*tables.by_eps({"model": results},
                                             robustness.columns(spec, results))))
  for sentence in written["warnings"]:
    print(f"warning: {sentence}")
  print(f"Wrote {out}/{robustness.RESULTS_FILE}, accuracy_vs_eps.png and panda.png")


if __name__ == "__main__":
  cli.run(main)
