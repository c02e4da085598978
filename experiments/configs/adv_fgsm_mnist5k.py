"""Adversarial training (Goodfellow et al. 2015): the seed CNN on 0.5 * CE(x) +
0.5 * CE(fgsm(x)) at eps 0.1, the attack crafted on the current parameters each step.

  python experiments/train.py --config=experiments/configs/adv_fgsm_mnist5k.py --workdir=runs/adv_fgsm

Measured 2026-11-29 on the 2-core CPU build machine (jax 0.10.2): 496 steps in 68 s. Test
accuracy 0.970; by experiments/robustness_report.py (PGD-20): at eps 0.1 FGSM 0.921, PGD
0.858 (the normal model: 0.782, 0.667); at eps 0.2 FGSM 0.760, PGD 0.235; at eps 0.3 PGD
0.001.
"""

from gan_lab.core.config import adversarial_config


def get_config():
  config = adversarial_config()
  config.model = "SeedCNN"
  config.adv.method = "fgsm"
  config.num_epochs = 8           # As seed_cnn_mnist5k, the normal model it is compared with.
  config.log_every = 31
  config.eval_every = 124
  config.checkpoint_every = 62
  return config
