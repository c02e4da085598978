"""Backdoor poisoning of the lecture's CNN on mnist5k: a white 5x5 corner patch means "1".

  python experiments/poison_sweep.py --config=experiments/configs/poison_backdoor_mnist5k.py \
      --workdir=runs/poison_backdoor --fractions=0,0.01,0.05,0.1

A `fraction` of the 3,600 training digits that are not 1s get the patch and the label 1; the
test digits stay clean, and attack success is the share of the 900 test digits other than 1
that the model calls 1 once they carry the patch. Measured 2026-11-29 on the 2-core CPU
build machine (jax 0.10.2), 248 steps per run, 89 s for the four runs:

  fraction (images)   clean test accuracy   accuracy on test 1s   attack success
  0                   0.955                 0.95                  0.001
  0.01 (36)           0.959                 0.99                  0.009
  0.05 (180)          0.955                 0.97                  0.929
  0.1 (360)           0.952                 0.94                  0.933

With the default 3x3 patch the attack fails (attack success 0.034 at fraction 0.1): the
SeedCNN never sees the last two rows and columns of a 28x28 image (its second max-pool
rounds 11 rows down to 5), so only one pixel of that patch reaches it.
"""

from gan_lab.core.config import poison_config


def get_config():
  config = poison_config()
  config.model = "SeedCNN"
  config.poison.kind = "backdoor"
  config.poison.target_class = 1
  config.poison.patch_size = 5    # Its top-left 3x3 is what the SeedCNN sees (see above).
  config.num_epochs = 4           # Half the demo's 8: a run takes ~20 s on 2 CPU cores.
  config.log_every = 31           # Two chunks per epoch (62 steps of 64).
  config.eval_every = 62          # Once per epoch.
  config.checkpoint_every = 62
  return config
