"""The GAN experiment: the lecture's two-phase update as one jitted step.

Phase 1 trains the discriminator D on real images labelled 1 and generated images labelled 0;
phase 2 trains the generator G through D with generated images labelled 1, D held fixed.
Each phase changes only its own network's parameters (`d_phase`, `g_phase`; tested).

The field's stabilisers, each a field of `config.gan` and usable with every model:
- `loss`: "bce" (the lecture's), "hinge", "least_squares" or "wasserstein"; `penalty`
  "wgan-gp" or "r1" with `penalty_weight` (`gan_losses`); `label_smoothing` labels real
  images 1 - s in phase 1 (one-sided; BCE and least squares);
- `spectral_norm`: spectrally normalised discriminator layers (without BatchNorm);
- `ema_decay`: an exponential moving average of G's weights (debiased as Adam's moments, so
  early steps are not pulled towards the initial weights), used for the sample grids, the
  judged metrics and experiments/sample.py, and checkpointed with the rest of the state;
- `augment`: DiffAugment on everything D sees (`diffaugment`);
- `pack`: PacGAN (Lin et al. 2018): D judges `pack` images at once, stacked along the
  channels, which makes a generator that repeats itself easy to spot;
- `d_steps` discriminator updates per generator update, each on fresh codings; G and D have
  their own learning rates and schedules (`gan.g_learning_rate`, `gan.d_lr_schedule`, ...:
  TTUR), each schedule counted in that network's own updates.

BatchNorm (DCGAN): both networks run in training mode, on batch statistics. G's running
averages come from phase 2's pass and are what sampling uses; D's from phase 1's passes.
"""

import json
import os
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_lab import data, inference, models, parallel, sample_quality, viz
from gan_lab.core.config import ADDED_FIELDS
from gan_lab.core.errors import UserError
from gan_lab.training import diffaugment
from gan_lab.training.gan_losses import LOSSES, PENALTIES, GANLoss
from gan_lab.training.state import TrainState, apply_train, make_optimizer


@flax.struct.dataclass
class GANState:
  step: jax.Array
  generator: TrainState
  discriminator: TrainState
  # With gan.ema_decay > 0: the (biased) moving average of G's params, whose debiasing count
  # is G's step; sampling pairs it with G's BatchNorm averages (as StudioGAN's copy of G's
  # buffers). None without.
  generator_ema: Any = None
  ema_decay: float = flax.struct.field(pytree_node=False, default=0.0)


# The stabilisers' values for runs made before them.
_STABILISER_DEFAULTS = {k[len("gan."):]: v for k, v in ADDED_FIELDS.items()
                        if k.startswith("gan.")}


def _gan(config):
  """config.gan with the stabilisers' defaults filled in for runs made before them."""
  return {**_STABILISER_DEFAULTS, **config.gan}


def _loss(config) -> GANLoss:
  return LOSSES.lookup(config.gan.loss, GANLoss)


def _penalty(config):
  penalty = PENALTIES.lookup(_gan(config)["penalty"])
  if penalty is not None and not callable(penalty):
    raise UserError(f"config.gan.penalty {_gan(config)['penalty']!r} is a "
                    f"{type(penalty).__name__}, not a function (d_fn, real, fake, rng, "
                    "axis_name) -> scalar.")
  return penalty


def check_config(config) -> None:
  """One sentence for each field of config.gan that cannot train, before anything is written."""
  g = _gan(config)
  loss, penalty = _loss(config), _penalty(config)
  diffaugment.parse_policy(g["augment"])
  min_eval = sample_quality.PRDC_K + 1  # Precision and recall need k neighbours of each.
  if not (g["d_steps"] >= 1 and g["codings"] >= 1 and 0.0 <= g["label_smoothing"] < 1.0
          and g.get("num_eval_samples", min_eval) >= min_eval):  # Older runs lack the field.
    raise UserError("config.gan needs d_steps >= 1, codings >= 1, 0 <= label_smoothing < 1 "
                    f"and num_eval_samples >= {min_eval}; got {g['d_steps']}, {g['codings']}, "
                    f"{g['label_smoothing']}, {g.get('num_eval_samples')}.")
  if g["label_smoothing"] and not loss.smooths:
    raise UserError(f"config.gan.loss {g['loss']!r} has no targets to smooth, so "
                    f"label_smoothing {g['label_smoothing']} would do nothing; set it to 0, or "
                    "use loss 'bce' or 'least_squares'.")
  if not g["penalty_weight"] >= 0:
    raise UserError(f"config.gan.penalty_weight must be >= 0; got {g['penalty_weight']}.")
  if not 0.0 <= g["ema_decay"] < 1.0:
    raise UserError(f"config.gan.ema_decay must be in [0, 1) (0 = no moving average; 0.999 is "
                    f"usual); got {g['ema_decay']}.")
  if not (isinstance(g["pack"], int) and g["pack"] >= 1 and config.batch_size % g["pack"] == 0):
    raise UserError(f"config.gan.pack must be a whole number >= 1 dividing batch_size "
                    f"{config.batch_size}; got {g['pack']}.")
  if g["loss"] == "wasserstein" and penalty is None and not g["spectral_norm"]:
    raise UserError("config.gan.loss 'wasserstein' needs a Lipschitz discriminator, which "
                    "nothing here enforces: set gan.penalty='wgan-gp' (or "
                    "gan.spectral_norm=True).")


def stabilisers(config, plain=None) -> list[str]:
  """The stabilisers a run's config.gan turns on, in words ("R1 (weight 1)", ...), for
  tables that set it beside a plain run; with `plain`, that run's config, also the learning
  rates where they differ from its."""
  g, on = _gan(config), []
  if g["loss"] != "bce":
    on.append(f"{g['loss'].replace('_', ' ')} loss")
  if g["penalty"] != "none":
    name = {"r1": "R1", "wgan-gp": "WGAN-GP"}.get(g["penalty"], g["penalty"])
    on.append(f"{name} (weight {g['penalty_weight']:g})")
  if g["label_smoothing"]:
    on.append(f"label smoothing {g['label_smoothing']:g}")
  if g["spectral_norm"]:
    on.append("spectral norm")
  if g["ema_decay"]:
    on.append(f"EMA of G ({g['ema_decay']:g})")
  if g["augment"]:
    on.append(f"DiffAugment ({g['augment']})")
  if g["pack"] > 1:
    on.append(f"PacGAN (pack {g['pack']})")
  if g["d_steps"] > 1:
    on.append(f"{g['d_steps']} D steps per G step")
  rates = lambda g: (g.get("g_learning_rate"), g.get("d_learning_rate"))  # Older runs: one.
  if rates(g)[0] != rates(g)[1]:
    on.append(f"TTUR (G {g['g_learning_rate']:g}, D {g['d_learning_rate']:g})")
  elif plain is not None and rates(g) != rates(plain.gan):
    on.append(f"learning rate {g['g_learning_rate']:g}")
  return on


def init_state(config, rng, total_steps: int) -> GANState:
  """G and D with their own optimizers: G's schedule over `total_steps` updates, D's over
  `d_steps` times as many."""
  check_config(config)
  g, extra = config.gan, _gan(config)
  shape = data.info(config.dataset).image_shape
  compute = {"conv": config.get("conv", "auto"), "dtype": config.get("dtype", "float32")}
  sn = {"spectral_norm": True} if extra["spectral_norm"] else {}  # User models may lack it.
  g_model = models.create(g.generator, **compute, image_shape=shape, **g.generator_kwargs)
  d_model = models.create(g.discriminator, **compute, **sn, **g.discriminator_kwargs)
  g_rng, d_rng = jax.random.split(rng)
  g_vars = g_model.init(g_rng, jnp.zeros((1, g.codings)), train=False)
  d_vars = d_model.init(d_rng, jnp.zeros((1, *shape[:-1], shape[-1] * extra["pack"])),
                        train=False)
  # Runs from before TTUR have one learning rate and schedule for both networks.
  net_field = lambda name, old: f"gan.{name}" if name in g else old
  g_tx = make_optimizer(config, total_steps, net_field("g_learning_rate", "learning_rate"),
                        net_field("g_lr_schedule", "lr_schedule"))
  d_tx = make_optimizer(config, total_steps * g.d_steps,
                        net_field("d_learning_rate", "learning_rate"),
                        net_field("d_lr_schedule", "lr_schedule"))
  generator = TrainState.of(g_model, g_vars, g_tx)
  ema = None
  if extra["ema_decay"]:
    ema = optax.tree.zeros_like(generator.params)
  return GANState(step=jnp.zeros((), jnp.int32), generator=generator,
                  discriminator=TrainState.of(d_model, d_vars, d_tx), generator_ema=ema,
                  ema_decay=extra["ema_decay"])


def generator_variables(generator: TrainState, ema, decay: float) -> dict:
  """G's Linen variables for sampling: the debiased moving average `ema` of its weights when
  there is one (G's step counts its updates), else its own."""
  if ema is None:
    return generator.variables()
  params = optax.tree.bias_correction(ema, decay, generator.step)
  return generator.replace(params=params).variables()


def _update_ema(state: GANState) -> GANState:
  if state.generator_ema is None:
    return state
  return state.replace(generator_ema=optax.tree.update_moment(
      state.generator.params, state.generator_ema, state.ema_decay, 1))


def sample_codings(rng, batch: int, size: int, axis_name=None):
  """N(0, I) codings of `size`, one key per example of the global batch (split-independent)."""
  keys = parallel.example_keys(rng, batch, axis_name)
  return jax.vmap(lambda k: jax.random.normal(k, (size,)))(keys)


def generate(state: GANState, z):
  """Samples in inference mode (G's running BatchNorm averages): deterministic in z. With a
  moving average in `state` (gan.ema_decay), from its weights."""
  variables = generator_variables(state.generator, state.generator_ema, state.ema_decay)
  return state.generator.apply_fn(variables, z, train=False)


def d_inputs(images, rng, config, axis_name=None):
  """What D sees of a batch of images: DiffAugmented, then packed `gan.pack` to a sample."""
  g = _gan(config)
  images = diffaugment.diff_augment(images, rng, g["augment"], axis_name)
  b, h, w, c = images.shape
  if b % g["pack"]:
    raise UserError(f"config.gan.pack {g['pack']} does not divide the {b} images per device; "
                    "pick a batch_size whose share on each device it divides.")
  # Consecutive examples share a pack, so packs never straddle devices.
  return images.reshape(b // g["pack"], g["pack"], h, w, c).transpose(0, 2, 3, 1, 4).reshape(
      b // g["pack"], h, w, g["pack"] * c)


def d_phase(state: GANState, real, rng, config, axis_name=None):
  """Phase 1: one discriminator update. Changes only the discriminator."""
  g = state.generator
  z_rng, real_rng, fake_rng, penalty_rng = jax.random.split(rng, 4)
  z = sample_codings(z_rng, len(real), config.gan.codings, axis_name)
  fake = jax.lax.stop_gradient(apply_train(g, g.params, z, axis_name=axis_name)[0])
  real = d_inputs(real, real_rng, config, axis_name)
  fake = d_inputs(fake, fake_rng, config, axis_name)
  d, penalty = state.discriminator, _penalty(config)

  def loss_fn(params):
    real_logits, net = apply_train(d, params, real, axis_name=axis_name)
    fake_logits, net = apply_train(net, params, fake, axis_name=axis_name)
    loss = _loss(config).d(real_logits, fake_logits, config.gan.label_smoothing)
    terms = {"d_loss": loss}
    if penalty is not None:
      # The penalty's own pass leaves D's statistics as the loss's passes set them.
      d_fn = lambda x: apply_train(net, params, x, axis_name=axis_name)[0]
      terms["d_penalty"] = penalty(d_fn, real, fake, penalty_rng, axis_name)
      loss = loss + _gan(config)["penalty_weight"] * terms["d_penalty"]
    return loss, (net, real_logits, fake_logits, terms)

  (_, (net, real_logits, fake_logits, terms)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(d.params)
  grads = parallel.pmean(grads, axis_name)
  d = net.apply_gradients(grads=grads)
  metrics = {**terms, "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
             "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),
             "d_grad_norm": optax.tree.norm(grads)}
  return state.replace(discriminator=d), metrics


def g_phase(state: GANState, batch: int, rng, config, axis_name=None):
  """Phase 2: one generator update through the fixed discriminator. Changes only G."""
  g, d = state.generator, state.discriminator
  z_rng, aug_rng = jax.random.split(rng)
  z = sample_codings(z_rng, batch, config.gan.codings, axis_name)

  def loss_fn(params):
    fake, net = apply_train(g, params, z, axis_name=axis_name)
    # D's statistics updates are discarded.
    fake_logits, _ = apply_train(d, d.params, d_inputs(fake, aug_rng, config, axis_name),
                                 axis_name=axis_name)
    return _loss(config).g(fake_logits), net

  (loss, net), grads = jax.value_and_grad(loss_fn, has_aux=True)(g.params)
  grads = parallel.pmean(grads, axis_name)
  return state.replace(generator=net.apply_gradients(grads=grads)), {
      "g_loss": loss, "g_grad_norm": optax.tree.norm(grads)}


def make_train_step(config):
  """(state, batch, rng) -> (state, metrics): `d_steps` of phase 1, then one of phase 2."""
  d_steps = config.gan.d_steps

  def train_step(state: GANState, batch, rng, *, axis_name=None):
    real = inference.to_float(batch["image"])
    d_rngs = jax.random.split(jax.random.fold_in(rng, 0), d_steps)
    state, d_metrics = jax.lax.scan(
        lambda s, r: d_phase(s, real, r, config, axis_name), state, d_rngs)
    state, g_metrics = g_phase(state, len(real), jax.random.fold_in(rng, 1), config, axis_name)
    state = _update_ema(state)
    metrics = {**jax.tree.map(lambda m: m[-1], d_metrics), **g_metrics}
    return state.replace(step=state.step + 1), parallel.pmean(metrics, axis_name)

  return train_step


def fixed_codings(config, num: int):
  """The codings every sample grid of a run uses, so grids over training compare."""
  return jax.random.normal(jax.random.key(config.seed + 1), (num, config.gan.codings))


def make_evaluate(config, workdir: str, judge: sample_quality.Judge | None = None):
  """Every eval: a sample grid from the run's fixed codings (`<workdir>/samples/`, and as
  "samples" for TensorBoard) and, with a `judge` (the classifier of
  `config.gan.classifier_workdir`), the judged quality of `num_eval_samples` samples."""
  z = fixed_codings(config, config.gan.num_grid)
  sample = jax.jit(generate)
  eval_z = None if judge is None else jax.random.normal(
      jax.random.key(config.seed + 2), (config.gan.num_eval_samples, config.gan.codings))

  def evaluate(state, step):
    images = jax.device_get(sample(state, z))
    scores = {}
    if judge is not None:
      scores = judge(inference.batched(lambda z: sample(state, z), eval_z))
    if jax.process_index() == 0:
      os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
      path = os.path.join(workdir, "samples", f"step_{step:07d}")
      viz.image_grid(images, path + ".png")
      if scores:
        with open(path + ".json", "w") as f:
          json.dump({k: np.asarray(v).tolist() for k, v in scores.items()}, f)
    return {"samples": images, **{k: v for k, v in scores.items() if np.ndim(v) == 0}}

  return evaluate


def diagnose(config, history: list[dict]) -> list[str]:
  return sample_quality.collapse_warnings(history, data.info(config.dataset).num_classes)


def figures(state: GANState, config, test, workdir: str) -> list[str]:
  del test
  images = jax.device_get(jax.jit(generate)(state, fixed_codings(config, config.gan.num_grid)))
  return [viz.image_grid(images, os.path.join(workdir, "samples.png"))]
