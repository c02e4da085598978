"""Adversarial training on CIFAR-10 at eps 8/255: Madry et al.'s PGD training (7 steps
of 2/255 from a random start, adversarial loss only).

Needs CIFAR-10 prepared once in array_record format (see README) and is meant for a GPU:

  python experiments/train.py --config=experiments/configs/adv_pgd_cifar10.py --workdir=runs/adv_pgd_cifar10
  python experiments/attack.py --workdir=runs/adv_pgd_cifar10 --eps=0,0.0157,0.0314,0.0627

Measured: not run here (no CIFAR-10 and no accelerator on the offline build machine). For
orientation, Madry et al. (2018) report about 87% clean and 46% PGD-20 accuracy at eps
8/255 for a wide ResNet; this small BatchNorm ConvNet will land well below both.
"""

from gan_lab.config import adversarial_config, use_cifar10_convnet


def get_config():
  config = use_cifar10_convnet(adversarial_config())
  config.adv.method = "pgd"
  config.adv.eps = 8 / 255
  config.adv.alpha = 0.0
  config.adv.pgd_steps = 7
  config.adv.step_size = 2 / 255
  config.batch_size = 128
  config.num_epochs = 30
  config.log_every = 100
  config.eval_every = 1500         # About every 4 epochs (390 steps of 128).
  config.checkpoint_every = 500
  return config
