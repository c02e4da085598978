"""The GAN experiment: the lecture's two-phase update as one jitted step.

Phase 1 trains the discriminator D on real images labelled 1 and generated images labelled 0;
phase 2 trains the generator G through D with generated images labelled 1, D held fixed.
Each phase changes only its own network's parameters (`d_phase`, `g_phase`; tested).

Losses (`config.gan.loss`): "bce", the lecture's binary cross-entropy (for G the usual
non-saturating form: generated images labelled 1), or "hinge" (Miyato et al. 2018), which
many GANs use today. `label_smoothing` labels real images 1 - s in phase 1 (one-sided).
`d_steps` discriminator updates per generator update, each on fresh codings. G and D have
their own learning rates and schedules (`gan.g_learning_rate`, `gan.d_lr_schedule`, ...:
TTUR), each schedule counted in that network's own updates.

BatchNorm (DCGAN): both networks run in training mode, on batch statistics. G's running
averages come from phase 2's pass and are what sampling uses; D's from phase 1's passes.
"""

import json
import os
from typing import Callable, NamedTuple

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_lab import data, inference, models, parallel, sample_quality, viz
from gan_lab.core.errors import UserError
from gan_lab.core.registry import Registry
from gan_lab.training.state import TrainState, apply_train, make_optimizer


class GANLoss(NamedTuple):
  """A GAN objective on D's logits: `d(real_logits, fake_logits, smoothing)` for phase 1 and
  `g(fake_logits)` for phase 2, each a scalar to minimise."""
  d: Callable
  g: Callable


def _bce_d(real_logits, fake_logits, smoothing: float):
  real = optax.sigmoid_binary_cross_entropy(real_logits, jnp.full_like(real_logits,
                                                                       1.0 - smoothing))
  fake = optax.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits))
  return jnp.mean(real) + jnp.mean(fake)


def _bce_g(fake_logits):
  return jnp.mean(optax.sigmoid_binary_cross_entropy(fake_logits, jnp.ones_like(fake_logits)))


def _hinge_d(real_logits, fake_logits, smoothing: float):
  del smoothing  # One-sided smoothing relabels BCE targets; the hinge loss has none.
  return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


# `config.gan.loss`: a name here, one added with `LOSSES.register`, or "package.module:attr"
# naming a GANLoss of the user's own code (docs/extending.md).
LOSSES = Registry("GAN loss", {
    "bce": GANLoss(d=_bce_d, g=_bce_g),
    "hinge": GANLoss(d=_hinge_d, g=lambda fake_logits: -jnp.mean(fake_logits)),
})


@flax.struct.dataclass
class GANState:
  step: jax.Array
  generator: TrainState
  discriminator: TrainState


def _loss(config) -> GANLoss:
  return LOSSES.lookup(config.gan.loss, GANLoss)


def init_state(config, rng, total_steps: int) -> GANState:
  """G and D with their own optimizers: G's schedule over `total_steps` updates, D's over
  `d_steps` times as many."""
  g = config.gan
  _loss(config)
  if not (g.d_steps >= 1 and g.codings >= 1 and 0.0 <= g.label_smoothing < 1.0
          and g.get("num_eval_samples", 2) >= 2):  # Runs from before this field lack it.
    raise UserError("config.gan needs d_steps >= 1, codings >= 1, 0 <= label_smoothing < 1 "
                    f"and num_eval_samples >= 2; got {g.d_steps}, {g.codings}, "
                    f"{g.label_smoothing}, {g.get('num_eval_samples')}.")
  if g.loss == "hinge" and g.label_smoothing:
    raise UserError(f"config.gan.loss 'hinge' has no targets to smooth, so label_smoothing "
                    f"{g.label_smoothing} would do nothing; set it to 0, or use loss 'bce'.")
  shape = data.info(config.dataset).image_shape
  compute = {"conv": config.get("conv", "auto"), "dtype": config.get("dtype", "float32")}
  g_model = models.create(g.generator, **compute, image_shape=shape, **g.generator_kwargs)
  d_model = models.create(g.discriminator, **compute, **g.discriminator_kwargs)
  g_rng, d_rng = jax.random.split(rng)
  g_vars = g_model.init(g_rng, jnp.zeros((1, g.codings)), train=False)
  d_vars = d_model.init(d_rng, jnp.zeros((1, *shape)), train=False)
  # Runs from before TTUR have one learning rate and schedule for both networks.
  net_field = lambda name, old: f"gan.{name}" if name in g else old
  g_tx = make_optimizer(config, total_steps, net_field("g_learning_rate", "learning_rate"),
                        net_field("g_lr_schedule", "lr_schedule"))
  d_tx = make_optimizer(config, total_steps * g.d_steps,
                        net_field("d_learning_rate", "learning_rate"),
                        net_field("d_lr_schedule", "lr_schedule"))
  return GANState(step=jnp.zeros((), jnp.int32), generator=TrainState.of(g_model, g_vars, g_tx),
                  discriminator=TrainState.of(d_model, d_vars, d_tx))


def sample_codings(rng, batch: int, size: int, axis_name=None):
  """N(0, I) codings of `size`, one key per example of the global batch (split-independent)."""
  keys = parallel.example_keys(rng, batch, axis_name)
  return jax.vmap(lambda k: jax.random.normal(k, (size,)))(keys)


def generate(state: GANState, z):
  """Samples in inference mode (G's running BatchNorm averages): deterministic in z."""
  return state.generator.apply_fn(state.generator.variables(), z, train=False)


def d_phase(state: GANState, real, rng, config, axis_name=None):
  """Phase 1: one discriminator update. Changes only the discriminator."""
  g = state.generator
  z = sample_codings(rng, len(real), config.gan.codings, axis_name)
  fake = jax.lax.stop_gradient(apply_train(g, g.params, z, axis_name=axis_name)[0])
  d = state.discriminator

  def loss_fn(params):
    real_logits, net = apply_train(d, params, real, axis_name=axis_name)
    fake_logits, net = apply_train(net, params, fake, axis_name=axis_name)
    loss = _loss(config).d(real_logits, fake_logits, config.gan.label_smoothing)
    return loss, (net, real_logits, fake_logits)

  (loss, (net, real_logits, fake_logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      d.params)
  grads = parallel.pmean(grads, axis_name)
  d = net.apply_gradients(grads=grads)
  metrics = {"d_loss": loss, "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
             "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),
             "d_grad_norm": optax.tree.norm(grads)}
  return state.replace(discriminator=d), metrics


def g_phase(state: GANState, batch: int, rng, config, axis_name=None):
  """Phase 2: one generator update through the fixed discriminator. Changes only G."""
  g, d = state.generator, state.discriminator
  z = sample_codings(rng, batch, config.gan.codings, axis_name)

  def loss_fn(params):
    fake, net = apply_train(g, params, z, axis_name=axis_name)
    # D's statistics updates are discarded.
    fake_logits, _ = apply_train(d, d.params, fake, axis_name=axis_name)
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
