"""Targeted label flips on mnist5k: a `fraction` of the training 7s are labelled 1.

  python experiments/poison_sweep.py --config=experiments/configs/poison_class_flip_mnist5k.py \
      --workdir=runs/poison_class_flip --fractions=0,0.1,0.3,0.5

Images are unchanged. Target-class accuracy is the accuracy on the 100 test 7s, attack
success the share of them the model calls 1. Measured 2026-11-29 on the 2-core CPU build
machine (jax 0.10.2), 248 steps per run, 96 s for the four runs:

  fraction (7s relabelled)   clean test accuracy   accuracy on test 7s   attack success
  0                          0.955                 0.97                  0.00
  0.1 (40 of 400)            0.951                 0.98                  0.00
  0.3 (120)                  0.950                 0.99                  0.00
  0.5 (200)                  0.932                 0.75                  0.21

While most training 7s keep their label the model still learns "7"; at half and half,
a fifth of the test 7s become 1s.
"""

from gan_lab.core.config import poison_config


def get_config():
  config = poison_config()
  config.model = "SeedCNN"
  config.poison.kind = "class_flip"
  config.poison.source_class = 7
  config.poison.target_class = 1
  config.num_epochs = 4           # Half the demo's 8: a run takes ~20 s on 2 CPU cores.
  config.log_every = 31           # Two chunks per epoch (62 steps of 64).
  config.eval_every = 62          # Once per epoch.
  config.checkpoint_every = 62
  return config
