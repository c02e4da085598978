"""Certifies a classifier run in L2 by randomized smoothing (Cohen, Rosenfeld & Kolter 2019).

  python experiments/certify.py --workdir=runs/smooth_cnn --n=10000 --num_examples=500

The run should be trained under Gaussian noise (experiments/configs/smooth_*.py); --sigma
defaults to its noise. Writes certify.json (each example's class, radius and whether it is
right; certified accuracy at --radii; the settings) and certified_accuracy.png into --out,
by default <workdir>/certify/<k> (the next free k): no earlier result is overwritten.
"""

from absl import flags

from gan_lab.core import cli
from gan_lab.runs import workdirs
from gan_lab.studies import certification, tables

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a classifier run.")
_SIGMA = flags.DEFINE_float("sigma", None, "Noise std, in [0, 1] pixel units (default: the "
                            "run's config.gaussian_noise_sd).")
_N0 = flags.DEFINE_integer("n0", 100, "Noisy samples per example that pick its class.")
_N = flags.DEFINE_integer("n", 100_000, "Noisy samples per example that certify it.")
_ALPHA = flags.DEFINE_float("alpha", 0.001, "Failure probability of each certificate.")
_NUM_EXAMPLES = flags.DEFINE_integer("num_examples", 500, "Test examples to certify (the "
                                     "first ones).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 250, "Noisy copies per forward pass (250 "
                                   "is the fastest on a 2-core CPU; more on a GPU).")
_RADII = flags.DEFINE_list("radii", [str(r) for r in certification.RADII],
                           "L2 radii of the certified accuracy table.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the noise.")
_OUT = flags.DEFINE_string("out", None, "Output directory (default <workdir>/certify/<k>).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  out = certification.certify_workdir(
      _WORKDIR.value, sigma=_SIGMA.value, n0=_N0.value, n=_N.value, alpha=_ALPHA.value,
      num_examples=_NUM_EXAMPLES.value, batch_size=_BATCH_SIZE.value, seed=_SEED.value,
      out=_OUT.value, radii=cli.floats("--radii", _RADII.value))
  written = workdirs.read_json(f"{out}/{certification.RESULTS_FILE}")
  s = written["settings"]
  print(f"{written['num_examples']} test examples, sigma {s['sigma']:g}, n {s['n']:,}, "
        f"alpha {s['alpha']:g}: base classifier accuracy {written['base_accuracy']:.3f}, "
        f"abstained {written['abstained']:.3f}, largest certifiable radius "
        f"{written['max_radius']:.3f} ({written['seconds']:.0f} s).")
  print(tables.markdown_table(["radius", "certified accuracy"],
                              [[r["radius"], r["accuracy"]]
                               for r in written["certified_accuracy"]]))
  for sentence in written["warnings"]:
    print(f"warning: {sentence}")
  print(f"Wrote {out}/{certification.RESULTS_FILE} and {out}/{certification.FIGURE_FILE}")


if __name__ == "__main__":
  cli.run(main)
