"""Label noise on mnist5k: a `fraction` of all training digits get a random other label.

  python experiments/poison_sweep.py --config=experiments/configs/poison_random_flip_mnist5k.py \
      --workdir=runs/poison_random_flip --fractions=0,0.1,0.2,0.4

Images are unchanged. Target-class accuracy is the worst class's test accuracy, attack
success the test error. Measured 2026-11-29 on the 2-core CPU build machine (jax 0.10.2),
248 steps per run, 98 s for the four runs:

  fraction (digits)   clean test accuracy   worst class's accuracy   test error
  0                   0.955                 0.86                     0.045
  0.1 (400)           0.957                 0.87                     0.043
  0.2 (800)           0.948                 0.84                     0.052
  0.4 (1,600)         0.931                 0.81                     0.069

Random wrong labels cancel out: with 40% of the labels wrong, test accuracy drops 2.4 points.
"""

from gan_lab.core.config import poison_config


def get_config():
  config = poison_config()
  config.model = "SeedCNN"
  config.poison.kind = "random_flip"
  config.num_epochs = 4           # Half the demo's 8: a run takes ~20 s on 2 CPU cores.
  config.log_every = 31           # Two chunks per epoch (62 steps of 64).
  config.eval_every = 62          # Once per epoch.
  config.checkpoint_every = 62
  return config
