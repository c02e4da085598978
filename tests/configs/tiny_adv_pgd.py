"""tiny_bn_dropout trained adversarially with PGD from random starts: randomness per example
(starts, dropout masks) and BatchNorm over clean and attacked copies. Multi-device tests."""

from gan_lab.core.config import adversarial_config


def get_config():
  config = adversarial_config()
  config.model = "ConvNet"
  config.model_kwargs.layers = ({"filters": 4, "batch_norm": True, "dropout": 0.25},)
  config.model_kwargs.dense = (16,)
  config.model_kwargs.dropout = 0.25
  config.adv.method = "pgd"
  config.adv.pgd_steps = 2
  config.adv.eval_pgd_steps = 2
  config.batch_size = 32
  config.num_steps = 8
  config.log_every = 4
  config.eval_every = 8
  config.checkpoint_every = 4
  config.eval_batch_size = 200
  return config
