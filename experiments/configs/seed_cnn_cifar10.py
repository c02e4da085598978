"""The lecture's CNN on CIFAR-10, as in the TensorFlow CNN tutorial (10 epochs, Adam).

Needs CIFAR-10 prepared once in array_record format (TensorFlow and internet, see README):

  python experiments/train.py --config=experiments/configs/seed_cnn_cifar10.py --workdir=runs/cifar

Measured: not run here (no CIFAR-10 on the offline build machine); the TensorFlow tutorial
reports about 70% test accuracy for this model after 10 epochs.
"""

from gan_lab.core.config import classifier_config


def get_config():
  config = classifier_config()
  config.dataset = "cifar10"
  config.model = "SeedCNN"
  config.batch_size = 64
  config.num_epochs = 10
  config.eval_batch_size = 1000
  config.log_every = 100
  config.eval_every = 800          # About once per epoch (781 steps of 64).
  config.checkpoint_every = 800
  return config
