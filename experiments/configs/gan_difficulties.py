"""The lecture's four difficulties of training GANs, each shown and fixed on the same budget.

  python experiments/train.py --config=experiments/configs/seed_cnn_mnist5k.py --workdir=runs/seed_cnn
  python experiments/gan_difficulties.py --config=experiments/configs/gan_difficulties.py \
      --workdir=runs/gan_difficulties

Every run is the lecture's dense SELU GAN (`dense_gan_mnist5k`, or `gan_collapse_mnist5k`
for mode collapse); the study trains each for `num_steps` steps, judged every `eval_every`
steps by the classifier in `classifier_workdir`. `<difficulty>.plain` shows the difficulty,
`<difficulty>.fixed` adds the one stabiliser named in `<difficulty>.fix`.

Measured 2026-12-01 on the 2-core AMD EPYC build machine (lscpu "AMD EPYC", AVX-512; jax
0.10.2), judged by seed_cnn_mnist5k (test accuracy 0.967): the eight runs in 207 s wall.

| difficulty | measure | plain | fix | fixed | FID plain / fixed |
|---|---|---|---|---|---|
| oscillation | G-loss swing | 0.053 | R1 (gamma 1) | 0.022 | 110 / 86 |
| D winning (d_steps 5) | final D loss | 0.093 | spectral norm | 1.03 | 385 / 67 |
| mode collapse (codings 1) | classes covered | 1 | PacGAN (pack 4) + R1 | 7 | 444 / 421 |
| instability (lr 3e-3) | FID std | 12.3 | EMA of G (0.99) | 6.3 | 80 / 64 |

For mode collapse, other runs of the same 1,500 steps covered 2 classes with PacGAN (pack
4) alone, 4 with pack 2 or 8, and 6 with R1 alone: PacGAN alone does not undo a
one-dimensional latent code here.
"""

import os

import ml_collections

from gan_lab.core.config import from_file


def _committed(name: str) -> ml_collections.ConfigDict:
  """get_config() of the config file experiments/configs/<name>.py."""
  return from_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py"))


def _pair(name: str, fix: str, plain: dict, fixed: dict) -> ml_collections.ConfigDict:
  pair = ml_collections.ConfigDict()
  pair.fix = fix
  pair.plain, pair.fixed = _committed(name), _committed(name)
  pair.plain.gan.update(plain)
  pair.fixed.gan.update({**plain, **fixed})
  return pair


def get_config():
  c = ml_collections.ConfigDict()
  c.difficulties = ("oscillation", "discriminator_wins", "mode_collapse", "instability")
  c.classifier_workdir = "runs/seed_cnn"
  c.num_steps = 1500
  c.eval_every = 100
  c.num_eval_samples = 1000
  # The lecture's GAN swings; R1 damps D's gradients on real digits.
  c.oscillation = _pair("dense_gan_mnist5k", "R1 (gamma 1)", {},
                        {"penalty": "r1", "penalty_weight": 1.0})
  # Five D updates per G update let D reject every sample; spectral norm bounds D's slope.
  c.discriminator_wins = _pair("dense_gan_mnist5k", "spectral normalisation", {"d_steps": 5},
                               {"spectral_norm": True})
  # A one-number latent code collapses onto a few digits; PacGAN's D sees four at once, and
  # R1 keeps D from pushing G's one curve from digit to digit.
  c.mode_collapse = _pair("gan_collapse_mnist5k", "PacGAN (pack 4) + R1 (gamma 1)", {},
                          {"pack": 4, "penalty": "r1", "penalty_weight": 1.0})
  # At a high learning rate the samples' quality jumps from eval to eval; the EMA of G's
  # weights averages the jumps out.
  c.instability = _pair("dense_gan_mnist5k", "EMA of G (decay 0.99)",
                        {"g_learning_rate": 3e-3, "d_learning_rate": 3e-3},
                        {"ema_decay": 0.99})
  return c
