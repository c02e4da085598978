"""The dense baseline (784-300-100-10 MLP) on the embedded MNIST digits, for CNN vs DNN.

  python experiments/train.py --config=experiments/configs/mlp_mnist5k.py --workdir=runs/mlp

Measured 2026-11-29 on the 2-core CPU build machine (jax 0.10.2), via
experiments/cnn_vs_mlp.py: 496 steps (8 epochs of batch 64), test accuracy 0.943 with
266,610 parameters (the seed CNN: 0.966 with 93,322).
"""

from gan_lab.core.config import classifier_config


def get_config():
  config = classifier_config()
  config.model = "MLP"
  config.model_kwargs.hidden = (300, 100)
  config.model_kwargs.dropout = 0.0
  config.num_epochs = 8
  config.log_every = 31           # Two chunks per epoch (62 steps of 64).
  config.eval_every = 62          # Once per epoch.
  config.checkpoint_every = 62
  return config
