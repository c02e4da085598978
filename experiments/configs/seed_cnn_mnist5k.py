"""The lecture's CNN on the embedded 5,000 MNIST digits: what `make demo` runs.

  python experiments/train.py --config=experiments/configs/seed_cnn_mnist5k.py --workdir=runs/seed_cnn

Measured 2026-11-29 on the 2-core CPU build machine (jax 0.10.2): 496 steps (8 epochs of
batch 64), test accuracy 0.966 on the 1,000 test digits (test loss 0.119), 22 s wall time
for the whole command (`make demo` in a fresh clone).
"""

from gan_lab.core.config import classifier_config


def get_config():
  config = classifier_config()
  config.model = "SeedCNN"
  config.num_epochs = 8
  config.log_every = 31           # Two chunks per epoch (62 steps of 64).
  config.eval_every = 62          # Once per epoch.
  config.checkpoint_every = 62
  return config
