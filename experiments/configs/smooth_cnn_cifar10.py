"""Randomized smoothing on CIFAR-10 at sigma 0.25 (Cohen, Rosenfeld & Kolter 2019): the
BatchNorm ConvNet trained under Gaussian noise of std 0.25, then certified in L2.

Needs CIFAR-10 prepared once in array_record format (see README) and is meant for a GPU:

  python experiments/train.py --config=experiments/configs/smooth_cnn_cifar10.py --workdir=runs/smooth_cifar10
  python experiments/certify.py --workdir=runs/smooth_cifar10 --num_examples=500 --batch_size=1000

(certify.py's defaults are the paper's: n0 = 100, n = 100,000, alpha = 0.001.)

Measured: not run here (no CIFAR-10 and no accelerator on the offline build machine). For
orientation, the reference implementation (github.com/locuslab/smoothing,
analysis/markdown/vary_noise_cifar10) reports for CIFAR-10 at sigma = 0.25, with a ResNet-110
trained 90 epochs with crops and flips and certified on 500 test images, certified accuracy
0.60 at radius 0.25 and 0.43 at radius 0.5; this small ConvNet without augmentation will land
below both.
"""

from gan_lab.core.config import smoothing_config, use_cifar10_convnet


def get_config():
  config = use_cifar10_convnet(smoothing_config())
  config.gaussian_noise_sd = 0.25
  config.batch_size = 128
  config.num_epochs = 30          # As the adv_*_cifar10 configs, the models it compares with.
  config.log_every = 100
  config.eval_every = 1500        # About every 4 epochs (390 steps of 128).
  config.checkpoint_every = 500
  return config
