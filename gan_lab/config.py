"""Defaults shared by the configs in experiments/configs: one place for every field."""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  """Every field the training loop reads; experiment configs override what they change."""
  c = ml_collections.ConfigDict()
  c.experiment = "classifier"   # A key of gan_lab.training.experiments.EXPERIMENTS.
  c.seed = 0

  c.dataset = "mnist5k"         # mnist5k (embedded) or a TFDS catalog name.
  c.data_dir = ""               # "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
  c.on_device = "auto"          # Keep the training split on the device: auto, true or false.
  c.parallel = "shard_map"      # Runs the per-device step on all devices: shard_map or pmap.

  c.model = "SeedCNN"           # A key of gan_lab.models.MODELS.
  c.model_kwargs = ml_collections.ConfigDict()

  c.optimizer = "adam"          # adam or sgd.
  c.learning_rate = 1e-3
  c.lr_schedule = "constant"    # constant or cosine.
  c.momentum = 0.0              # sgd only.
  c.adam_b1 = 0.9               # adam only.

  c.batch_size = 64
  c.num_epochs = 5
  c.num_steps = -1              # > 0 overrides num_epochs.
  c.eval_batch_size = 500

  c.log_every = 25              # Steps per jitted chunk (and per metrics line).
  c.eval_every = 0              # Steps; 0 = only at the end.
  c.checkpoint_every = 0        # Steps; 0 = only at the end.
  c.keep_checkpoints = 3
  return c
