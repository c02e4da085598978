"""The tour of the lecture that `make demo` runs: every topic, then report.md and report.html.

  python experiments/tour.py --config=experiments/configs/tour.py --workdir=runs/tour
  python experiments/tour.py --config=experiments/configs/tour.py:tiny --workdir=runs/tiny
  python experiments/tour.py --config=experiments/configs/tour.py --workdir=runs/t \
      --config.stages=cnn_vs_mlp,attacks

Each stage's settings are the committed config of its experiment (the files beside this
one), shortened where the full run would not fit the tour's 5 minutes on 2 CPU cores; any
field can be overridden, e.g. --config.gan.num_steps=2500. `:tiny` runs every stage for a
few steps only (what the test suite runs): it checks the plumbing, not the results.

Measured: see the README's results block, which experiments/readme_tables.py writes from
the report of a run of the first command.
"""

import importlib.util
import os

import ml_collections


def _committed(name: str) -> ml_collections.ConfigDict:
  """get_config() of the config file experiments/configs/<name>.py."""
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"tour_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def get_config(size: str = "quick"):
  if size not in ("quick", "tiny"):
    raise ValueError(f"tour.py takes :quick or :tiny; got :{size}.")
  c = ml_collections.ConfigDict()
  c.stages = ("cnn_vs_mlp", "gan", "dcgan", "attacks", "transfer", "adversarial_training",
              "vat", "poisoning")

  c.cnn_vs_mlp = ml_collections.ConfigDict()
  c.cnn_vs_mlp.cnn = _committed("seed_cnn_mnist5k")   # As committed: the other stages use it.
  c.cnn_vs_mlp.mlp = _committed("mlp_mnist5k")

  c.gan = _committed("dense_gan_mnist5k")
  c.gan.num_steps = 1000
  c.dcgan = _committed("dcgan_mnist5k")
  c.dcgan.num_steps = 124         # 2 epochs; the committed config trains 4.
  c.dcgan.eval_every = 62
  c.dcgan.checkpoint_every = 62
  for g in (c.gan, c.dcgan):
    g.gan.num_eval_samples = 1000

  c.attacks = ml_collections.ConfigDict()
  c.attacks.eps = (0.0, 0.1, 0.2, 0.3)
  c.attacks.pgd_steps = 10
  c.attacks.target_class = 3
  c.attacks.report_eps = 0.1      # The budget the section's sentence quotes.
  c.attacks.seed = 0

  c.transfer = ml_collections.ConfigDict()
  c.transfer.eps = (0.1, 0.2)
  c.transfer.pgd_steps = 10
  c.transfer.report_eps = 0.2
  c.transfer.seed = 0

  c.adversarial_training = ml_collections.ConfigDict()
  c.adversarial_training.train = _committed("adv_fgsm_mnist5k")
  c.adversarial_training.train.num_epochs = 4
  c.adversarial_training.pgd_train = _committed("adv_pgd_mnist5k")
  c.adversarial_training.pgd_train.num_epochs = 4
  c.adversarial_training.eps = (0.1, 0.2)
  c.adversarial_training.pgd_steps = 10
  c.adversarial_training.seed = 0
  # AutoAttack beside PGD on a subset of the test digits, to keep the tour in its minutes;
  # the README's table runs the standard version on 500 (experiments/robustness_report.py).
  c.adversarial_training.autoattack_version = "fast"
  c.adversarial_training.autoattack_examples = 50
  c.adversarial_training.apgd_steps = 100

  c.vat = _committed("vat_mnist5k")
  c.vat.num_steps = 300
  c.vat.eval_every = 100

  c.poisoning = ml_collections.ConfigDict()
  c.poisoning.train = _committed("poison_class_flip_mnist5k")
  c.poisoning.fractions = (0.0, 0.5)

  if size == "tiny":
    runs = (c.cnn_vs_mlp.cnn, c.cnn_vs_mlp.mlp, c.gan, c.dcgan, c.adversarial_training.train,
            c.adversarial_training.pgd_train, c.vat, c.poisoning.train)
    for run in runs:
      run.num_steps, run.log_every, run.eval_every, run.checkpoint_every = 4, 2, 0, 0
    c.dcgan.batch_size = 16
    for g in (c.gan, c.dcgan):
      g.gan.num_eval_samples = 100
    c.attacks.eps = (0.0, 0.1)
    c.transfer.eps = (0.1,)
    c.transfer.report_eps = 0.1
    c.adversarial_training.eps = (0.1,)
    for stage in (c.attacks, c.transfer, c.adversarial_training):
      stage.pgd_steps = 2
    c.adversarial_training.autoattack_examples = 16
    c.adversarial_training.apgd_steps = 2
  return c
