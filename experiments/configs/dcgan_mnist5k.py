"""DCGAN on the embedded 5,000 MNIST digits (28x28x1), Adam 2e-4 / beta1 0.5.

  python experiments/train.py --config=experiments/configs/dcgan_mnist5k.py --workdir=runs/dcgan

Measured 2026-11-29 on the 2-core CPU build machine (jax 0.10.2), judged by
seed_cnn_mnist5k (--config.gan.classifier_workdir=runs/seed_cnn): 248 steps (4 epochs of
batch 64) in 50 s wall, ~0.14 s per step (0.95 s before gan_lab.models.conv.ConvTranspose).
Means over the last 31 steps: D(x) 0.86, D(G(z)) 0.12; samples.png shows stroke-like
digits. At step 124, 6 classes covered, class KL 0.55, classifier-FID 346, IS analogue 2.8;
at step 248, 9 classes, KL 0.21, FID 122, IS 4.5.
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
  config.gan.g_learning_rate = config.gan.d_learning_rate = 2e-4
  config.adam_b1 = 0.5
  config.batch_size = 64
  config.num_epochs = 4           # 62 steps per epoch; DCGAN is slow on CPU (see README).
  config.log_every = 31
  config.eval_every = 124
  config.checkpoint_every = 124
  return config
