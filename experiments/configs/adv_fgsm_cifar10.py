"""Adversarial training on CIFAR-10 at eps 8/255: Goodfellow et al.'s mix,
0.5 * CE(x) + 0.5 * CE(fgsm(x)).

Needs CIFAR-10 prepared once in array_record format (see README) and is meant for a GPU:

  python experiments/train.py --config=experiments/configs/adv_fgsm_cifar10.py --workdir=runs/adv_fgsm_cifar10
  python experiments/attack.py --workdir=runs/adv_fgsm_cifar10 --eps=0,0.0157,0.0314,0.0627

Measured: not run here (no CIFAR-10 and no accelerator on the offline build machine). For
orientation, Madry et al. (2018) report about 87% clean and 46% PGD-20 accuracy at eps
8/255 for a wide ResNet; this small BatchNorm ConvNet will land well below both.
"""

from gan_lab.core.config import cifar10_adversarial_config


def get_config():
  return cifar10_adversarial_config(method="fgsm", alpha=0.5)
