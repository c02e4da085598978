"""The lecture's dense SELU GAN, architecture unchanged, with the field's stabilisers.

  python experiments/train.py --config=experiments/configs/seed_cnn_mnist5k.py --workdir=runs/seed_cnn
  python experiments/train.py --config=experiments/configs/dense_gan_stabilised_mnist5k.py \
      --workdir=runs/gan_stabilised

Everything of dense_gan_mnist5k (the same models, RMSprop, batch 32, 20 epochs) plus an R1
penalty on D's gradients at real digits (gamma 1), which lets both networks train at 3e-3
instead of the lecture's 1e-3, and samples from the moving average of G's weights (decay
0.99).

Measured: MEASURED
"""

import os

from gan_lab.core.config import from_file


def get_config():
  config = from_file(os.path.join(os.path.dirname(__file__), "dense_gan_mnist5k.py"))
  config.gan.penalty, config.gan.penalty_weight = "r1", 1.0
  config.gan.g_learning_rate = config.gan.d_learning_rate = 3e-3
  config.gan.ema_decay = 0.99
  config.gan.classifier_workdir = "runs/seed_cnn"
  return config
