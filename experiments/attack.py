"""Attacks a trained classifier on its test split: accuracy vs eps for clean, noise, FGSM, PGD.

  python experiments/attack.py --workdir=runs/seed_cnn --attack=noise,fgsm,pgd \
      --eps=0,0.05,0.1,0.2,0.3 [--targeted --target_class=3]

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
_SEED = flags.DEFINE_integer("seed", 0, "Seed of noise, random starts and random targets.")
_OUT = flags.DEFINE_string("out", None, "Output directory (default <workdir>/attacks/<k>).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  spec = attacks.AttackSpec(
      attacks=tuple(_ATTACK.value), pgd_steps=_PGD_STEPS.value,
      pgd_step_size=_PGD_STEP_SIZE.value, random_start=_RANDOM_START.value,
      targeted=_TARGETED.value, target_class=_TARGET.value)
  out = robustness.attack_workdir(_WORKDIR.value, cli.floats("--eps", _EPS.value), spec,
                                  out=_OUT.value, seed=_SEED.value, panda_eps=_PANDA_EPS.value)
  written = workdirs.read_json(f"{out}/{robustness.RESULTS_FILE}")
  results = written["results"]
  columns = ["accuracy_clean", *(f"accuracy_{a}" for a in spec.attacks), "robust_accuracy"]
  if spec.targeted:
    columns += [f"success_{a}" for a in spec.attacks]
  print(tables.markdown_table(*tables.by_eps({"model": results}, columns)))
  for sentence in written["warnings"]:
    print(f"warning: {sentence}")
  print(f"Wrote {out}/{robustness.RESULTS_FILE}, accuracy_vs_eps.png and panda.png")


if __name__ == "__main__":
  cli.run(main)
