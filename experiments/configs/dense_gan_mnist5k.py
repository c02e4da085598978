"""The lecture's dense SELU GAN on the embedded 5,000 MNIST digits (offline default).

  python experiments/train.py --config=experiments/configs/dense_gan_mnist5k.py --workdir=runs/gan

Measured 2026-11-29 on the 2-core CPU build machine (jax 0.10.2): 2,500 steps (20 epochs of
batch 32) in 38 s wall. Means over the last 125 steps: D(x) 0.71, D(G(z)) 0.29, D loss 0.87,
G loss 1.71; samples.png shows digit-like strokes, several readable (3, 5, 7, 1). Judged by
seed_cnn_mnist5k (--config.gan.classifier_workdir=runs/seed_cnn), measured 2026-12-01 on the
2-core AMD EPYC build machine (lscpu "AMD EPYC", AVX-512; jax 0.10.2): 2,500 steps in 22.4 s
wall (5 judged evals); at steps 500/1,000/1,500/2,000/2,500 the samples covered 10/9/9/9/10
of 10 classes, classifier-FID 190/144/110/103/96, IS analogue 4.2/4.1/4.4/4.9/4.8 (real
digits: FID 5.4, IS 9.6). dense_gan_stabilised_mnist5k adds R1, an EMA of G and 3e-3: FID 30 at
step 2,500.
"""

from gan_lab.core.config import gan_config


def get_config():
  config = gan_config()
  config.optimizer = "rmsprop"    # As in the lecture (Keras defaults: lr 1e-3, rho 0.9).
  config.gan.g_learning_rate = config.gan.d_learning_rate = 1e-3
  config.batch_size = 32          # The lecture's batch size.
  config.num_epochs = 20          # 125 steps per epoch on 4,000 digits.
  config.log_every = 125
  config.eval_every = 500
  config.checkpoint_every = 500
  return config
