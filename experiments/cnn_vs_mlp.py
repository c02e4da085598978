"""The lecture's CNN vs DNN comparison, measured: parameters and test accuracy side by side.

  python experiments/cnn_vs_mlp.py --workdir=runs/cnn_vs_mlp [--cnn_config.num_epochs=2]

Trains (or resumes) the seed CNN and the MLP configs (--cnn_config and --mlp_config, whose
fields --cnn_config.<field> and --mlp_config.<field> override) in <workdir>/cnn and
<workdir>/mlp, then prints both (parameters, steps, test accuracy), with the lecture's arithmetic computed from the models: a 100x100 image
into a dense layer of 1,000 neurons, against a 3x3 conv layer on the same image.
"""

import os

from absl import flags
from ml_collections import config_flags

from gan_lab.core import cli
from gan_lab.studies import cnn_vs_mlp

_HERE = os.path.dirname(os.path.abspath(__file__))
_CNN = config_flags.DEFINE_config_file(
    "cnn_config", os.path.join(_HERE, "configs/seed_cnn_mnist5k.py"), "The CNN's config.")
_MLP = config_flags.DEFINE_config_file(
    "mlp_config", os.path.join(_HERE, "configs/mlp_mnist5k.py"), "The MLP's config.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Holds cnn/ and mlp/ runs and the table.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  result = cnn_vs_mlp.compare_models({"cnn": _CNN.value, "mlp": _MLP.value}, _WORKDIR.value)
  print(f"{'model':8} {'params':>10} {'steps':>6} {'test accuracy':>14}")
  for name in ("cnn", "mlp"):
    r = result[name]
    print(f"{r['model']:8} {r['params']:>10,} {r['steps']:>6} {r['test_accuracy']:>14.4f}")
  a = result["lecture_arithmetic"]
  print(f"100x100 image -> Dense(1000):   {a['dense_connections']:>10,} connections, "
        f"{a['dense_params']:>10,} parameters")
  print(f"100x100 image -> Conv(32, 3x3): {a['conv_connections']:>10,} connections, "
        f"{a['conv_params']:>10,} parameters (one kernel shared by every position)")
  print(f"Results in {os.path.join(os.path.abspath(_WORKDIR.value), cnn_vs_mlp.COMPARISON_FILE)}")


if __name__ == "__main__":
  cli.run(main)
