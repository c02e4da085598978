"""The noise baseline for adversarial training: the seed CNN on a 0.5/0.5 mix of clean
digits and the same digits with random-sign noise of L-inf size 0.1.

  python experiments/train.py --config=experiments/configs/adv_noise_mnist5k.py --workdir=runs/adv_noise

Measured 2026-11-29 on the 2-core CPU build machine (jax 0.10.2): 496 steps in 66 s. Test
accuracy 0.968; by experiments/robustness_report.py (PGD-20): at eps 0.1 FGSM 0.815, PGD
0.717 (the normal model: 0.782, 0.667); at eps 0.2 PGD 0.056. Noise does not buy robustness
to adversarial perturbations of the same size.
"""

from gan_lab.core.config import adversarial_config


def get_config():
  config = adversarial_config()
  config.model = "SeedCNN"
  config.adv.method = "noise"
  config.num_epochs = 8           # As seed_cnn_mnist5k, the normal model it is compared with.
  config.log_every = 31
  config.eval_every = 124
  config.checkpoint_every = 62
  return config
