"""DCGAN on CIFAR-10 (32x32x3), Adam 2e-4 / beta1 0.5, batch 128, for a GPU.

Needs CIFAR-10 prepared once in array_record format (see README):

  python experiments/train.py --config=experiments/configs/dcgan_cifar10.py --workdir=runs/dcgan_c10

Measured: not run here (no CIFAR-10 and no GPU on the offline build machine).
"""

from gan_lab.core.config import gan_config


def get_config():
  config = gan_config()
  config.dataset = "cifar10"
  config.gan.generator = "DCGANGenerator"
  config.gan.generator_kwargs.features = (256, 128, 64)    # 4x4 -> 8 -> 16 -> 32
  config.gan.discriminator = "DCGANDiscriminator"
  config.gan.discriminator_kwargs.features = (64, 128, 256)
  config.gan.codings = 100
  config.optimizer = "adam"
  config.gan.g_learning_rate = config.gan.d_learning_rate = 2e-4
  config.adam_b1 = 0.5
  config.batch_size = 128
  config.num_epochs = 30          # 390 steps per epoch.
  config.log_every = 130
  config.eval_every = 1950
  config.checkpoint_every = 1950
  return config
