"""VAT on catalog MNIST with 100 labels (10 per class), the paper's semi-supervised setting.

Needs MNIST prepared once in array_record format (see README); meant for a GPU:

  python experiments/vat_table.py --config=experiments/configs/vat_mnist.py --workdir=runs/vat_mnist

Measured: not run here (no catalog MNIST and no accelerator on the offline build machine).
Miyato et al. (2018) report about 1.4% test error for VAT with 100 labels (a 1200-600-300-
150-150 MLP with BatchNorm); expect a higher error from this model and budget, and tune
eps, which is in [0, 1] pixel units here.
"""

from gan_lab.core.config import vat_config


def get_config():
  config = vat_config()
  config.dataset = "mnist"
  config.model = "ConvNet"
  config.model_kwargs.layers = ({"filters": 32, "batch_norm": True},
                                {"filters": 64, "batch_norm": True})
  config.model_kwargs.dense = (128,)
  config.vat.labels_per_class = 10
  config.vat.eps = 2.0
  config.batch_size = 64               # 64 labelled + 64 unlabelled per step.
  config.num_steps = 20000
  config.lr_schedule = "cosine"
  config.eval_batch_size = 1000
  config.log_every = 200
  config.eval_every = 2000
  config.checkpoint_every = 2000
  return config
