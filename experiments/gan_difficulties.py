"""The lecture's four difficulties of training GANs, each shown by a plain run and measured
again with one fix on the same budget (`gan_lab.studies.gan_difficulties`).

  python experiments/train.py --config=experiments/configs/seed_cnn_mnist5k.py --workdir=runs/seed_cnn
  python experiments/gan_difficulties.py --config=experiments/configs/gan_difficulties.py \
      --workdir=runs/gan_difficulties

The first command trains the classifier that judges the samples (the config's
classifier_workdir). Prints one line per difficulty: its measure on the plain and on the
fixed run, with both runs' classifier-FID; writes <workdir>/gan_difficulties.json.
"""

from absl import flags
from ml_collections import config_flags

from gan_lab.core import cli
from gan_lab.studies import gan_difficulties

_CONFIG = config_flags.DEFINE_config_file("config", None, "The study's config file.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Holds <difficulty>/{plain,fixed} runs.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  result = gan_difficulties.compare(_CONFIG.value, _WORKDIR.value)
  for difficulty, runs in result.items():
    name, _ = gan_difficulties.MEASURES[difficulty]
    plain, fixed = runs["plain"], runs["fixed"]
    print(f"{difficulty:20} {name}: plain {plain['measure']:.3g} (FID "
          f"{plain['classifier_fid']:.0f}), with {fixed['fix']}: {fixed['measure']:.3g} (FID "
          f"{fixed['classifier_fid']:.0f})")


if __name__ == "__main__":
  cli.run(main)
