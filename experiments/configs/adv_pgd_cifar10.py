"""Adversarial training on CIFAR-10 at eps 8/255: Madry et al.'s PGD training (7 steps
of 2/255 from a random start, adversarial loss only).

Needs CIFAR-10 prepared once in array_record format (see README) and is meant for a GPU:

  python experiments/train.py --config=experiments/configs/adv_pgd_cifar10.py --workdir=runs/adv_pgd_cifar10
  python experiments/attack.py --workdir=runs/adv_pgd_cifar10 --eps=0,0.0157,0.0314,0.0627

Measured: not run here (see adv_fgsm_cifar10.py for what the paper reports).
"""

from gan_lab.core.config import cifar10_adversarial_config


def get_config():
  return cifar10_adversarial_config(method="pgd", alpha=0.0)
