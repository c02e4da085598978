"""Samples images from a trained GAN's generator; restores only the generator.

  python experiments/sample.py --workdir=runs/gan --num_samples=64 --seed=0
  python experiments/sample.py --workdir=runs/gan --interpolate --out=runs/gan/interp.png
  python experiments/sample.py --workdir=runs/dcgan --weights=raw  # Not the moving average.

Writes a PNG grid at --out (default <workdir>/sampled/seed<seed>.png) and the raw samples
(float32 NHWC in [0, 1]) beside it as .npy; an existing file is never overwritten.
The same workdir, step and seed give the same samples: the generator runs in inference mode
(BatchNorm running averages), and codings come from --seed alone.
"""

import os

from absl import flags

from gan_lab.core import cli
from gan_lab.runs import restore, sampling

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a GAN run.")
_OUT = flags.DEFINE_string("out", None, "PNG file to write (default <workdir>/sampled/"
                           "seed<seed>.png); the .npy goes beside it.")
_NUM = flags.DEFINE_integer("num_samples", 64, "Number of samples (rows of the grid for "
                            "--interpolate).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the codings.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
_INTERPOLATE = flags.DEFINE_bool("interpolate", False,
                                 "Rows of 10 images between two random codings each.")
_WEIGHTS = flags.DEFINE_enum("weights", "auto", restore.GENERATOR_WEIGHTS,
                             "The generator's weights: ema (the moving average of a run with "
                             "gan.ema_decay > 0), raw, or auto (ema where the run has it).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  out = _OUT.value or os.path.join(_WORKDIR.value, "sampled", f"seed{_SEED.value}.png")
  png = sampling.write_samples(_WORKDIR.value, out, num=_NUM.value, seed=_SEED.value,
                               step=_STEP.value, interpolate=_INTERPOLATE.value,
                               weights=_WEIGHTS.value)
  png = os.path.abspath(png)
  print(f"Wrote {png} and {os.path.splitext(png)[0]}.npy")


if __name__ == "__main__":
  cli.run(main)
