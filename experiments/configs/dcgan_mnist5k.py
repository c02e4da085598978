"""DCGAN on the embedded 5,000 MNIST digits (28x28x1), with a moving average of G's weights.

  python experiments/train.py --config=experiments/configs/seed_cnn_mnist5k.py --workdir=runs/seed_cnn
  python experiments/train.py --config=experiments/configs/dcgan_mnist5k.py --workdir=runs/dcgan

Radford et al.'s DCGAN (Adam, beta1 0.5, batch 64, BCE) at a learning rate of 5e-4 for both
networks instead of their 2e-4, for 4,000 steps, sampled from the moving average of G's
weights (decay 0.999). The lecture's plain DCGAN is the same config with
--config.gan.ema_decay=0 --config.gan.g_learning_rate=2e-4 --config.gan.d_learning_rate=2e-4.

Measured: MEASURED
"""

from gan_lab.core.config import gan_config


def get_config():
  config = gan_config()
  config.gan.generator = "DCGANGenerator"
  config.gan.generator_kwargs.features = (128, 64)      # 7x7 -> 14x14 -> 28x28
  config.gan.discriminator = "DCGANDiscriminator"
  config.gan.discriminator_kwargs.features = (64, 128)  # 28x28 -> 14x14 -> 7x7
  config.gan.codings = 100
  config.optimizer = "adam"
  config.gan.g_learning_rate = config.gan.d_learning_rate = 5e-4
  config.adam_b1 = 0.5
  config.gan.ema_decay = 0.999
  config.gan.classifier_workdir = "runs/seed_cnn"
  config.batch_size = 64
  config.num_steps = 4000         # About 64 epochs of the 4,000 training digits.
  config.log_every = 250
  config.eval_every = 1000
  config.checkpoint_every = 1000
  return config
