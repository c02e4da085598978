"""The lecture's exact setting: the dense SELU GAN on Fashion-MNIST, batch 32, RMSprop.

Needs Fashion-MNIST prepared once in array_record format (see README):

  python experiments/train.py --config=experiments/configs/dense_gan_fashion_mnist.py \
      --workdir=runs/gan_fashion

Measured: not run here (no Fashion-MNIST on the offline build machine). The lecture trains
one epoch (1,875 steps); this config trains 10.
"""

from gan_lab.core.config import gan_config


def get_config():
  config = gan_config()
  config.dataset = "fashion_mnist"
  config.optimizer = "rmsprop"
  config.gan.g_learning_rate = config.gan.d_learning_rate = 1e-3
  config.batch_size = 32
  config.num_epochs = 10          # 1,875 steps per epoch.
  config.log_every = 125
  config.eval_every = 1875
  config.checkpoint_every = 1875
  return config
