"""DCGAN on the embedded 5,000 MNIST digits (28x28x1), with a moving average of G's weights.

  python experiments/train.py --config=experiments/configs/seed_cnn_mnist5k.py --workdir=runs/seed_cnn
  python experiments/train.py --config=experiments/configs/dcgan_mnist5k.py --workdir=runs/dcgan

Radford et al.'s DCGAN (Adam, beta1 0.5, batch 64, BCE) at a learning rate of 1e-3 for both
networks instead of their 2e-4, for 4,000 steps, sampled from the moving average of G's
weights (decay 0.999), which averages out the larger steps' noise. The lecture's plain DCGAN
is the same config with --config.gan.ema_decay=0 --config.gan.g_learning_rate=2e-4
--config.gan.d_learning_rate=2e-4.

Measured 2026-12-01 on the 2-core AMD EPYC build machine (lscpu "AMD EPYC", AVX-512; jax
0.10.2, oneDNN convolutions), judged by seed_cnn_mnist5k (test accuracy 0.967): 4,000 steps
in 196 s wall. At steps 1,000 / 2,000 / 3,000 / 4,000: 10 classes covered each time,
classifier-FID 37.2 / 25.8 / 19.5 / 17.0, IS analogue 6.22 / 6.83 / 7.21 / 7.30, KID 136 /
92 / 64 / 53 (std 20 at the end), precision 0.77 / 0.76 / 0.77 / 0.79, recall 0.89 / 0.92 /
0.94 / 0.94. Real training digits (1,000) by the same CNN: FID 5.4, IS 9.59, KID 4.2 (std
12.3), precision 0.95, recall 0.94. samples.png shows digits, most of them readable; the IS
analogue stays below the real digits' 9.6 (some samples are between two classes). With
Radford et al.'s 2e-4 and the same EMA, FID was 37.1 at 3,000 steps; at 5e-4, 21.9 at 4,000.
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
  config.gan.g_learning_rate = config.gan.d_learning_rate = 1e-3
  config.adam_b1 = 0.5
  config.gan.ema_decay = 0.999
  config.gan.classifier_workdir = "runs/seed_cnn"
  config.batch_size = 64
  config.num_steps = 4000         # About 64 epochs of the 4,000 training digits.
  config.log_every = 250
  config.eval_every = 1000
  config.checkpoint_every = 1000
  return config
