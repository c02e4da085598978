"""DCGAN on Stacked MNIST (stacked_mnist5k: three embedded digits as the RGB channels, 1,000
modes), judged mode by mode by the digit CNN as VEEGAN and PacGAN count modes.

  python experiments/train.py --config=experiments/configs/seed_cnn_mnist5k.py \
    --workdir=runs/seed_cnn
  python experiments/train.py --config=experiments/configs/dcgan_stacked_mnist5k.py \
    --workdir=runs/stacked

The settings of dcgan_mnist5k, on 28x28x3. Each eval judges gan.num_eval_samples = 26,000
samples (the papers' count) by their channels' digits: test_modes_covered of 1,000 and
test_mode_kl (KL to uniform; log 1000 = 6.9 for one mode), besides FID, KID and
precision/recall/density/coverage on the three channels' CNN features.

Measured 2026-12-01 on the 2-core AMD EPYC build machine (flags with avx512f; jax 0.10.2,
oneDNN convolutions), judged by seed_cnn_mnist5k (test accuracy 0.967): 812 steps (2 epochs)
in 2 min 25 s wall, 0.076 s per step, ~28 s per eval of 26,000 samples, ~29 s to start
(featurising the 10,000 test images). D wins throughout (logged D loss 0.009 to 0.25,
D(G(z)) 0.004 to 0.035), and both warnings fire at each eval. At step 406: 263 modes
covered, mode KL 3.35, FID 1,763, KID 2,103 (std 45), precision 0.09, recall 0, density
0.02, coverage 0.003; at step 812: 478 modes, KL 1.93, FID 1,056, KID 1,396 (35), precision
0.54, recall 0, density 0.23, coverage 0.03. The same command on XLA's convolutions (another
summation order) ended at 894 modes, KL 0.93, FID 736: this short, the run is chaotic, so
read one run's mode count as a rough figure. Real training images (all 26,000) by the same
CNN: 1,000 modes, KL 0.0005, FID 9.9, KID 5.5 (4.3), precision 0.96, recall 0.95, density
0.99, coverage 0.97.
"""

import os

from gan_lab.core.config import from_file


def get_config():
  config = from_file(os.path.join(os.path.dirname(__file__), "dcgan_mnist5k.py"))
  config.dataset = "stacked_mnist5k"
  config.gan.pack = 2             # PacGAN: D judges two samples at once.
  config.gan.ema_decay = 0.99
  config.gan.g_learning_rate = config.gan.d_learning_rate = 5e-4
  config.num_steps = 1624         # 4 epochs of 406 steps on 26,000 images.
  config.log_every = 58           # 7 chunks per epoch.
  config.eval_every = 812         # Every 2 epochs: judging 26,000 samples takes a while.
  config.checkpoint_every = 812
  config.gan.num_eval_samples = 26_000
  return config
