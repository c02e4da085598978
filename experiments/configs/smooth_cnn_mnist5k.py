"""The seed CNN trained under Gaussian noise, the base classifier of randomized smoothing
(Cohen, Rosenfeld & Kolter 2019), then certified in L2 by experiments/certify.py.

  python experiments/train.py --config=experiments/configs/smooth_cnn_mnist5k.py --workdir=runs/smooth_cnn
  python experiments/certify.py --workdir=runs/smooth_cnn --n=10000 --num_examples=500

Measured 2026-12-01 on the 2-core CPU build machine (AMD EPYC, AVX-512; jax 0.10.2): 496
steps (8 epochs of batch 64) in 32 s wall time for the train.py command, clean test accuracy
0.961 on the 1,000 test digits (seed_cnn_mnist5k, trained without noise: 0.966). Certified
at sigma 0.5 on the first 500 test digits (certify.py's defaults: n0 = 100, alpha = 0.001,
batch 250; wall times with other jobs sharing the 2 cores):

  | n      | radius 0 | 0.25  | 0.5   | 0.75  | 1.0   | wall time |
  |--------|----------|-------|-------|-------|-------|-----------|
  | 1,000  | 0.954    | 0.938 | 0.900 | 0.798 | 0.650 | 41 s      |
  | 10,000 | 0.958    | 0.942 | 0.914 | 0.834 | 0.704 | 370 s     |

(the share certified correct at that L2 radius or more; radius 0 is the smoothed
classifier's clean accuracy; the base classifier gets 0.962 of these digits right). n bounds
the radius: at most sigma * Phi^-1(alpha^(1/n)), 1.23 for n = 1,000 and 1.60 for 10,000
(certified accuracy 0.562 at 1.25 and 0.338 at 1.5 with n = 10,000). At sigma 0.25 the same
recipe gives 0.962, 0.946 and 0.884 at radii 0, 0.25 and 0.5 with n = 1,000, and nothing
past 0.62.
"""

from gan_lab.core.config import smoothing_config


def get_config():
  config = smoothing_config()
  config.model = "SeedCNN"
  config.gaussian_noise_sd = 0.5
  config.num_epochs = 8           # As seed_cnn_mnist5k, the clean model it is compared with.
  config.log_every = 31           # Two chunks per epoch (62 steps of 64).
  config.eval_every = 62          # Once per epoch.
  config.checkpoint_every = 62
  return config
