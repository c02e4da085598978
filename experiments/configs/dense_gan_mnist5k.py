"""The lecture's dense SELU GAN on the embedded 5,000 MNIST digits (offline default).

  python experiments/train.py --config=experiments/configs/dense_gan_mnist5k.py --workdir=runs/gan

Measured 2026-11-29 on the 2-core CPU build machine (jax 0.10.2): 2,500 steps (20 epochs of
batch 32) in 38 s wall. Means over the last 125 steps: D(x) 0.71, D(G(z)) 0.29, D loss 0.87,
G loss 1.71; samples.png shows digit-like strokes, several readable (3, 5, 7, 1). A sample
quality number waits for the classifier-based diagnostics.
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
