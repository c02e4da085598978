"""The lecture's dense SELU GAN on the embedded 5,000 MNIST digits (offline default).

  python experiments/train.py --config=experiments/configs/dense_gan_mnist5k.py --workdir=runs/gan

Measured: MEASURED
"""

from gan_lab.config import gan_config


def get_config():
  config = gan_config()
  config.optimizer = "rmsprop"    # As in the lecture (Keras defaults: lr 1e-3, rho 0.9).
  config.learning_rate = 1e-3
  config.batch_size = 32          # The lecture's batch size.
  config.num_epochs = 20          # 125 steps per epoch on 4,000 digits.
  config.log_every = 125
  config.eval_every = 500
  config.checkpoint_every = 500
  return config
