"""A tiny ConvNet with BatchNorm and dropout: the layers whose numbers could depend on how
a batch is split over devices. Used by the multi-device tests."""

from gan_lab.core.config import classifier_config


def get_config():
  config = classifier_config()
  config.model = "ConvNet"
  config.model_kwargs.layers = ({"filters": 4, "batch_norm": True, "dropout": 0.25},)
  config.model_kwargs.dense = (16,)
  config.model_kwargs.dropout = 0.25
  config.batch_size = 32
  config.num_steps = 8
  config.log_every = 4
  config.eval_every = 8
  config.checkpoint_every = 4
  config.eval_batch_size = 200
  return config
