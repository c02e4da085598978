"""A tiny DCGAN (BatchNorm in both networks) on mnist5k: a few steps take seconds."""

from gan_lab.core.config import gan_config


def get_config():
  config = gan_config()
  config.gan.generator = "DCGANGenerator"
  config.gan.generator_kwargs.features = (16, 8)
  config.gan.discriminator = "DCGANDiscriminator"
  config.gan.discriminator_kwargs.features = (8, 16)
  config.gan.codings = 8
  config.gan.num_grid = 16
  config.optimizer = "adam"
  config.gan.g_learning_rate = config.gan.d_learning_rate = 2e-4
  config.adam_b1 = 0.5
  config.batch_size = 32
  config.num_steps = 8
  config.log_every = 4
  config.eval_every = 8
  config.checkpoint_every = 4
  return config
