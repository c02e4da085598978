"""Adversarial training (Madry et al. 2018): the seed CNN on the cross-entropy of PGD examples
only (alpha 0), 7 steps of 2.5 * 0.1 / 7 from a random start in the eps = 0.1 ball.

  python experiments/train.py --config=experiments/configs/adv_pgd_mnist5k.py --workdir=runs/adv_pgd

Measured 2026-11-29 on the 2-core CPU build machine (jax 0.10.2): 496 steps in 138 s. Test
accuracy 0.977; by experiments/robustness_report.py (PGD-20): at eps 0.1 FGSM 0.921, PGD
0.910 (the normal model: 0.782, 0.667); at eps 0.2 FGSM 0.816, PGD 0.539; at eps 0.3, beyond
the training budget, PGD 0.022. Re-run 2026-12-01 on the 2-core AMD EPYC (AVX-512) build
host, after convolutions' input gradients got their own rule: 46 s for the command, test
accuracy 0.977, and its logged evaluation at eps 0.1 FGSM 0.925, PGD-10 0.918.
"""

from gan_lab.core.config import adversarial_config


def get_config():
  config = adversarial_config()
  config.model = "SeedCNN"
  config.adv.method = "pgd"
  config.adv.alpha = 0.0          # Madry et al.: the adversarial loss only.
  config.num_epochs = 8           # As seed_cnn_mnist5k, the normal model it is compared with.
  config.log_every = 31
  config.eval_every = 124
  config.checkpoint_every = 62
  return config
