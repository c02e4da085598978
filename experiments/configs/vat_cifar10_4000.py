"""VAT on CIFAR-10 with 4,000 labels (400 per class), the paper's CIFAR setting.

Needs CIFAR-10 prepared once in array_record format (see README); meant for a GPU:

  python experiments/vat_table.py --config=experiments/configs/vat_cifar10_4000.py \
      --workdir=runs/vat_cifar --seeds=0

Measured: not run here (no CIFAR-10 and no accelerator on the offline build machine).
Miyato et al. (2018) report about 14.9% test error for VAT and 13.2% for VAT+EntMin with
4,000 labels and no augmentation (their 13-layer "ConvLarge" on ZCA-whitened images).
This smaller BatchNorm ConvNet on raw [0, 1] pixels will do worse; eps = 1.0 (L2, pixel
units) is a starting point, not tuned: the paper's eps 6.0 is in whitened units.
"""

from gan_lab.core.config import vat_config, use_cifar10_convnet


def get_config():
  config = use_cifar10_convnet(vat_config())
  config.vat.labels_per_class = 400
  config.vat.eps = 1.0
  config.batch_size = 128              # 128 labelled + 128 unlabelled per step.
  config.num_steps = 48000
  config.log_every = 200
  config.eval_every = 4000
  config.checkpoint_every = 2000
  return config
