"""Defaults shared by the configs in experiments/configs: one place for every field.

`base_config()` holds what every experiment reads (data, optimizer, schedule, logging);
`classifier_config()`, `smoothing_config()`, `adversarial_config()`, `poison_config()`,
`vat_config()` and `gan_config()` add their experiment's own fields.
"""

import importlib.util
import os

import ml_collections

# Fields added after runs were written, with the value that gives those runs' behaviour: a
# run whose config.json lacks one resumes when the new config holds that value.
ADDED_FIELDS = {"adv.beta": 6.0, "dtype": "float32",
                # The GAN stabilisers, off (gan_lab.training.gan reads these for older runs).
                "gan.penalty": "none", "gan.penalty_weight": 10.0,
                "gan.spectral_norm": False, "gan.ema_decay": 0.0, "gan.augment": "",
                "gan.pack": 1}


def from_file(path: str, *args) -> ml_collections.ConfigDict:
  """`get_config(*args)` of the config file at `path`: how one config builds on another
  (`from_file(os.path.join(os.path.dirname(__file__), "dense_gan_mnist5k.py"))`)."""
  name = os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(f"gan_lab_config_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(*args)


def base_config() -> ml_collections.ConfigDict:
  """Every field the training loop reads; experiment configs override what they change."""
  c = ml_collections.ConfigDict()
  c.experiment = "classifier"   # A key of gan_lab.runs.experiments.EXPERIMENTS.
  c.seed = 0

  c.dataset = "mnist5k"         # mnist5k (embedded) or a TFDS catalog name.
  c.data_dir = ""               # "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
  c.on_device = "auto"          # Keep the training split on the device: auto, true or false.
  c.parallel = "shard_map"      # Runs the per-device step on all devices: shard_map or pmap.
  # The models' convolutions and max pooling (gan_lab.models.conv.IMPLEMENTATIONS): "auto"
  # (oneDNN's where built, else XLA's; config.json records which ran), "xla" (XLA's, with
  # faster derivative rules on CPU), "onednn" (oneDNN kernels, built by `make install`; no
  # forward-mode autodiff) or "lax" (plain lax: the reference).
  c.conv = "auto"
  # What the models compute in: float32, or bfloat16 (for GPUs and TPUs; README). Parameters,
  # optimizer state, losses and attacks stay float32 either way.
  c.dtype = "float32"

  c.optimizer = "adam"          # adam, rmsprop or sgd.
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


def classifier_config() -> ml_collections.ConfigDict:
  c = base_config()
  c.model = "SeedCNN"           # A key of gan_lab.models.MODELS, or "module:Class".
  c.model_kwargs = ml_collections.ConfigDict()
  return c


def smoothing_config() -> ml_collections.ConfigDict:
  """A classifier trained under Gaussian noise: the base classifier of randomized smoothing
  (`gan_lab.smoothing`, experiments/certify.py). Its own function rather than a classifier
  default, so that runs made before the field resume as they are."""
  c = classifier_config()
  c.gaussian_noise_sd = 0.25    # Std of the noise on each training image ([0, 1] units); 0 = off.
  return c


def poison_config() -> ml_collections.ConfigDict:
  """A classifier trained on poisoned data (`gan_lab.poisoning`); the test split stays clean."""
  c = classifier_config()
  c.experiment = "poisoned"
  c.poison = ml_collections.ConfigDict()
  c.poison.kind = "random_flip"  # random_flip, class_flip or backdoor.
  c.poison.fraction = 0.1        # Of the examples the kind may poison.
  c.poison.source_class = 7      # class_flip: relabelled from this class...
  c.poison.target_class = 1      # ...to this one; backdoor: the trigger's label.
  c.poison.patch_size = 3        # backdoor: the trigger's side in pixels.
  return c


def use_cifar10_convnet(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """CIFAR-10 with a BatchNorm ConvNet (64-128-256 conv blocks, a 256 dense head, 1.4M
  parameters): the model of the CIFAR configs that are meant for a GPU."""
  c.dataset = "cifar10"
  c.model = "ConvNet"
  c.model_kwargs.layers = ({"filters": 64, "batch_norm": True},
                           {"filters": 128, "batch_norm": True},
                           {"filters": 256, "batch_norm": True})
  c.model_kwargs.dense = (256,)
  c.eval_batch_size = 1000
  c.lr_schedule = "cosine"
  return c


def adversarial_config() -> ml_collections.ConfigDict:
  """A classifier trained on clean and attacked examples (`gan_lab.training.adversarial`)."""
  c = classifier_config()
  c.experiment = "adversarial"
  c.adv = ml_collections.ConfigDict()
  c.adv.method = "fgsm"         # fgsm (Goodfellow), pgd (Madry), trades (Zhang) or noise.
  c.adv.eps = 0.1               # L-inf budget in [0, 1] pixel units, for training and eval.
  c.adv.alpha = 0.5             # Weight of the clean loss; 1 - alpha on the attacked copy.
  c.adv.beta = 6.0              # trades: CE(x) + beta * KL(p(x) || p(x_adv)); alpha unused.
  c.adv.pgd_steps = 7           # pgd, trades: iterations while training...
  c.adv.step_size = 0.0         # ...of this size (0 = 2.5 * eps / pgd_steps).
  c.adv.eval_pgd_steps = 10     # PGD iterations of the robust accuracy at eval.
  return c


def vat_config() -> ml_collections.ConfigDict:
  """Virtual adversarial training (`gan_lab.training.vat`): batch_size labelled plus
  batch_size unlabelled examples per step."""
  c = classifier_config()
  c.experiment = "vat"
  c.vat = ml_collections.ConfigDict()
  c.vat.labels_per_class = 10   # Labelled examples per class (0 = all: supervised VAT).
  c.vat.alpha = 1.0             # Weight of the VAT loss (0 = the supervised baseline).
  c.vat.eps = 2.0               # L2 size of r_adv, in [0, 1] pixel units.
  c.vat.xi = 1e-6               # Finite-difference step of the power iteration.
  c.vat.num_iterations = 1      # Power iterations.
  c.vat.entmin = 0.0            # Weight of entropy minimisation (VAT+EntMin: 1).
  return c


def cifar10_adversarial_config(method: str, alpha: float) -> ml_collections.ConfigDict:
  """Adversarial training on CIFAR-10 at Madry et al.'s budget (eps 8/255; PGD: 7 steps of
  2/255, also used at eval) with the BatchNorm ConvNet: the adv_*_cifar10 configs."""
  c = use_cifar10_convnet(adversarial_config())
  c.adv.update(method=method, alpha=alpha, eps=8 / 255, pgd_steps=7, step_size=2 / 255)
  c.batch_size = 128
  c.num_epochs = 30
  c.log_every = 100
  c.eval_every = 1500           # About every 4 epochs (390 steps of 128).
  c.checkpoint_every = 500
  return c


def gan_config() -> ml_collections.ConfigDict:
  """The two-phase GAN (`gan_lab.training.gan`). G and D have their own learning rate and
  schedule (TTUR, Heusel et al. 2017), each counted in that network's own updates; the
  optimizer kind and its other settings (optimizer, momentum, adam_b1) are shared."""
  c = base_config()
  c.experiment = "gan"
  del c.learning_rate, c.lr_schedule  # Per network, in c.gan.
  c.gan = ml_collections.ConfigDict()
  c.gan.g_learning_rate = 2e-4
  c.gan.d_learning_rate = 2e-4
  c.gan.g_lr_schedule = "constant"  # constant or cosine, over G's updates...
  c.gan.d_lr_schedule = "constant"  # ...and over D's (d_steps per step).
  c.gan.generator = "DenseGenerator"          # Keys of gan_lab.models.MODELS.
  c.gan.generator_kwargs = ml_collections.ConfigDict()
  c.gan.discriminator = "DenseDiscriminator"
  c.gan.discriminator_kwargs = ml_collections.ConfigDict()
  c.gan.codings = 30            # Size of the generator's input z ~ N(0, I).
  # The stabilisers (gan_lab.training.gan); the defaults are the lecture's plain GAN.
  c.gan.loss = "bce"            # bce (the lecture's), hinge, least_squares, wasserstein.
  c.gan.penalty = "none"        # none, wgan-gp (interpolates) or r1 (real images)...
  c.gan.penalty_weight = 10.0   # ...times this (lambda of WGAN-GP; gamma of R1).
  c.gan.label_smoothing = 0.0   # Real images labelled 1 - s for D (one-sided).
  c.gan.spectral_norm = False   # Spectrally normalised D layers, without BatchNorm.
  c.gan.ema_decay = 0.0         # Moving average of G's weights for sampling (0 = off).
  c.gan.augment = ""            # DiffAugment policy, e.g. "color,translation,cutout".
  c.gan.pack = 1                # PacGAN: D judges this many samples at once.
  c.gan.d_steps = 1             # Discriminator updates per generator update.
  c.gan.num_grid = 64           # Samples in each grid written at eval steps.
  # Workdir of a classifier run on the same dataset: at eval steps it judges
  # num_eval_samples samples (mode coverage, classifier-FID, IS analogue). "" = off.
  c.gan.classifier_workdir = ""
  c.gan.num_eval_samples = 1000
  return c
