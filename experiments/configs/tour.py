"""The tour of the lecture that `make demo` runs: every topic, then report.md and report.html.

  python experiments/tour.py --config=experiments/configs/tour.py --workdir=runs/tour
  python experiments/tour.py --config=experiments/configs/tour.py:tiny --workdir=runs/tiny
  python experiments/tour.py --config=experiments/configs/tour.py --workdir=runs/t \
      --config.stages=cnn_vs_mlp,attacks
  python experiments/tour.py --config=experiments/configs/tour.py --workdir=runs/gd \
      --config.stages=cnn_vs_mlp,gan_difficulties

Each stage's settings are the committed config of its experiment (the files beside this
one), shortened where the full run would not fit the tour's 5 minutes on 2 CPU cores; any
field can be overridden, e.g. --config.gan.plain.num_steps=2500. `:tiny` runs every stage for a
few steps only (what the test suite runs): it checks the plumbing, not the results.

Measured: see the README's results block, which experiments/readme_tables.py writes from
the report of a run of the first command.
"""

import os

import ml_collections

from gan_lab.core.config import from_file, gan_config

_STABILISERS = ("loss", "penalty", "penalty_weight", "label_smoothing", "spectral_norm",
                "ema_decay", "augment", "pack", "d_steps")
DCGAN_STEPS = 400
ALL_STAGES = ("cnn_vs_mlp", "gan", "dcgan", "gan_difficulties", "attacks", "transfer",
              "adversarial_training", "vat", "poisoning")


def _committed(name: str) -> ml_collections.ConfigDict:
  """get_config() of the config file experiments/configs/<name>.py."""
  return from_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py"))


def _plain(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config` with the lecture's plain GAN: no stabiliser, Radford et al.'s Adam 2e-4 for G
  and D."""
  config.gan.update({k: v for k, v in gan_config().gan.items() if k in _STABILISERS})
  config.gan.g_learning_rate = config.gan.d_learning_rate = 2e-4
  return config


def get_config(size: str = "quick"):
  if size not in ("quick", "tiny"):
    raise ValueError(f"tour.py takes :quick or :tiny; got :{size}.")
  c = ml_collections.ConfigDict()
  # gan_difficulties (the four difficulties of training GANs, 8 runs in ~3.5 minutes) is left
  # out to keep the tour in its 5 minutes: add it with --config.stages=...,gan_difficulties.
  c.stages = tuple(s for s in ALL_STAGES if s != "gan_difficulties")

  c.cnn_vs_mlp = ml_collections.ConfigDict()
  c.cnn_vs_mlp.cnn = _committed("seed_cnn_mnist5k")   # As committed: the other stages use it.
  c.cnn_vs_mlp.mlp = _committed("mlp_mnist5k")

  # Each GAN stage: the lecture's plain GAN beside the committed stabilised one, same steps.
  c.gan = ml_collections.ConfigDict()
  c.gan.plain = _committed("dense_gan_mnist5k")
  c.gan.stabilised = _committed("dense_gan_stabilised_mnist5k")
  c.dcgan = ml_collections.ConfigDict()
  c.dcgan.plain = _plain(_committed("dcgan_mnist5k"))
  c.dcgan.stabilised = _committed("dcgan_mnist5k")
  c.dcgan.stabilised.gan.ema_decay = 0.99  # An average over ~100 steps suits a short run.
  for stage, steps in ((c.gan, 1000), (c.dcgan, DCGAN_STEPS)):
    for g in (stage.plain, stage.stabilised):
      g.num_steps = steps
      g.eval_every = g.checkpoint_every = steps // 2
      g.log_every = steps // 10
      g.gan.num_eval_samples = 1000
  c.gan_difficulties = _committed("gan_difficulties")  # As committed: its docstring's numbers.

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
    gans = (c.gan.plain, c.gan.stabilised, c.dcgan.plain, c.dcgan.stabilised)
    runs = (c.cnn_vs_mlp.cnn, c.cnn_vs_mlp.mlp, *gans, c.adversarial_training.train,
            c.adversarial_training.pgd_train, c.vat, c.poisoning.train)
    for run in runs:
      run.num_steps, run.log_every, run.eval_every, run.checkpoint_every = 4, 2, 0, 0
    for g in gans:
      g.gan.num_eval_samples = 100
    c.dcgan.plain.batch_size = c.dcgan.stabilised.batch_size = 16
    c.stages = ALL_STAGES
    # One pair: tests/test_gan_difficulties.py checks each difficulty's measure.
    c.gan_difficulties.update(difficulties=("mode_collapse",), num_steps=4, eval_every=2,
                              num_eval_samples=100)
    c.attacks.eps = (0.0, 0.1)
    c.transfer.eps = (0.1,)
    c.transfer.report_eps = 0.1
    c.adversarial_training.eps = (0.1,)
    for stage in (c.attacks, c.transfer, c.adversarial_training):
      stage.pgd_steps = 2
    c.adversarial_training.autoattack_examples = 16
    c.adversarial_training.apgd_steps = 2
  return c
