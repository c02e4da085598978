"""TRADES (Zhang et al. 2019): the seed CNN on CE(x) + 6 * KL(p(x) || p(x_adv)), x_adv the
point of the eps = 0.1 ball that maximises that KL, by 7 sign steps of 2.5 * 0.1 / 7 from
x + 0.001 * N(0, 1): the budget, steps and epochs of adv_pgd_mnist5k, for a fair comparison.

  python experiments/train.py --config=experiments/configs/adv_trades_mnist5k.py --workdir=runs/adv_trades

Measured 2026-12-01 on a 2-core AMD EPYC (AVX-512) shared with other jobs (load average
5-6; jax 0.10.2): 496 steps in 235 s (152 s of CPU; adv_pgd_mnist5k, run beside it: 200 s,
148 s). Test accuracy 0.977, PGD-10 at eps 0.1 0.923 (metrics.jsonl); by
experiments/robustness_report.py (PGD-20): at eps 0.1 FGSM 0.930, PGD 0.923 (PGD-trained:
0.921, 0.910); at eps 0.2 FGSM 0.848, PGD 0.613 (0.816, 0.539); at eps 0.3, beyond the
training budget, PGD 0.055 (0.022).
"""

from gan_lab.core.config import adversarial_config


def get_config():
  config = adversarial_config()
  config.model = "SeedCNN"
  config.adv.method = "trades"
  config.adv.beta = 6.0           # Zhang et al.'s MNIST and CIFAR-10 results.
  config.num_epochs = 8           # As seed_cnn_mnist5k and adv_pgd_mnist5k.
  config.log_every = 31
  config.eval_every = 124
  config.checkpoint_every = 62
  return config
