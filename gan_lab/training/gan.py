"""The GAN experiment: the lecture's two-phase update as one jitted step.

Phase 1 trains the discriminator D on real images labelled 1 and generated images labelled 0;
phase 2 trains the generator G through D with generated images labelled 1, D held fixed.
Each phase changes only its own network's parameters (`d_phase`, `g_phase`; tested).

Losses (`config.gan.loss`): "bce", the lecture's binary cross-entropy (for G the usual
non-saturating form: generated images labelled 1), or "hinge" (Miyato et al. 2018), which
many GANs use today. `label_smoothing` labels real images 1 - s in phase 1 (one-sided).
`d_steps` discriminator updates per generator update, each on fresh codings.

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

from gan_lab import data, models, parallel, sample_quality, viz
from gan_lab.errors import UserError
from gan_lab.registry import Registry
from gan_lab.training.state import TrainState, make_optimizer


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
  # Static: part of the step's definition, not of the numbers.
  codings: int = flax.struct.field(pytree_node=False, default=30)
  loss: str = flax.struct.field(pytree_node=False, default="bce")
  label_smoothing: float = flax.struct.field(pytree_node=False, default=0.0)
  d_steps: int = flax.struct.field(pytree_node=False, default=1)


def init_state(config, rng, total_steps: int, axis_name: str | None = parallel.AXIS) -> GANState:
  g = config.gan
  if not isinstance(LOSSES.lookup(g.loss), GANLoss):
    raise UserError(f"config.gan.loss {g.loss!r} is not a gan_lab.training.gan.GANLoss.")
  if not (g.d_steps >= 1 and g.codings >= 1 and 0.0 <= g.label_smoothing < 1.0
          and g.get("num_eval_samples", 2) >= 2):  # Runs from before this field lack it.
    raise UserError("config.gan needs d_steps >= 1, codings >= 1, 0 <= label_smoothing < 1 "
                    f"and num_eval_samples >= 2; got {g.d_steps}, {g.codings}, "
                    f"{g.label_smoothing}, {g.get('num_eval_samples')}.")
  shape = data.info(config.dataset).image_shape
  g_model = models.create(g.generator, axis_name=axis_name, image_shape=shape,
                          **g.generator_kwargs)
  d_model = models.create(g.discriminator, axis_name=axis_name, **g.discriminator_kwargs)
  g_rng, d_rng = jax.random.split(rng)
  try:
    g_vars = g_model.init(g_rng, jnp.zeros((1, g.codings)), train=False)
    d_vars = d_model.init(d_rng, jnp.zeros((1, *shape)), train=False)
  except (TypeError, ValueError) as e:
    raise UserError(f"Bad generator or discriminator kwargs: {e}") from e
  tx = make_optimizer(config, total_steps)
  net = lambda model, v: TrainState.create(apply_fn=model.apply, params=v["params"], tx=tx,
                                           batch_stats=v.get("batch_stats", {}))
  return GANState(step=jnp.zeros((), jnp.int32), generator=net(g_model, g_vars),
                  discriminator=net(d_model, d_vars), codings=g.codings, loss=g.loss,
                  label_smoothing=g.label_smoothing, d_steps=g.d_steps)


def codings(state: GANState, rng, batch: int, axis_name=None):
  """N(0, I) codings, one key per example of the global batch (split-independent)."""
  keys = parallel.example_keys(rng, batch, axis_name)
  return jax.vmap(lambda k: jax.random.normal(k, (state.codings,)))(keys)


def _apply(net: TrainState, params, x):
  """Training-mode forward pass: (output, net with the new batch statistics)."""
  out, updates = net.apply_fn(net.replace(params=params).variables(), x, train=True,
                              mutable=["batch_stats"])
  return out, net.replace(batch_stats=updates.get("batch_stats", {}))


def generate(state: GANState, z):
  """Samples in inference mode (G's running BatchNorm averages): deterministic in z."""
  return state.generator.apply_fn(state.generator.variables(), z, train=False)


def d_phase(state: GANState, real, rng, axis_name=None):
  """Phase 1: one discriminator update. Changes only the discriminator."""
  fake, _ = _apply(state.generator, state.generator.params, codings(state, rng, len(real),
                                                                    axis_name))
  fake = jax.lax.stop_gradient(fake)
  d = state.discriminator

  def loss_fn(params):
    real_logits, net = _apply(d, params, real)
    fake_logits, net = _apply(net, params, fake)
    loss = LOSSES.lookup(state.loss).d(real_logits, fake_logits, state.label_smoothing)
    return loss, (net, real_logits, fake_logits)

  (loss, (net, real_logits, fake_logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      d.params)
  grads = parallel.pmean(grads, axis_name)
  d = net.apply_gradients(grads=grads)
  metrics = {"d_loss": loss, "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
             "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),
             "d_grad_norm": optax.tree.norm(grads)}
  return state.replace(discriminator=d), metrics


def g_phase(state: GANState, batch: int, rng, axis_name=None):
  """Phase 2: one generator update through the fixed discriminator. Changes only G."""
  g, d = state.generator, state.discriminator
  z = codings(state, rng, batch, axis_name)

  def loss_fn(params):
    fake, net = _apply(g, params, z)
    fake_logits, _ = _apply(d, d.params, fake)  # D's statistics updates are discarded.
    return LOSSES.lookup(state.loss).g(fake_logits), net

  (loss, net), grads = jax.value_and_grad(loss_fn, has_aux=True)(g.params)
  grads = parallel.pmean(grads, axis_name)
  return state.replace(generator=net.apply_gradients(grads=grads)), {
      "g_loss": loss, "g_grad_norm": optax.tree.norm(grads)}


def train_step(state: GANState, batch, rng, *, axis_name=None):
  """(state, batch, rng) -> (state, metrics): `d_steps` of phase 1, then one of phase 2."""
  real = batch["image"].astype(jnp.float32) / 255.0
  d_rngs = jax.random.split(jax.random.fold_in(rng, 0), state.d_steps)
  state, d_metrics = jax.lax.scan(
      lambda s, r: d_phase(s, real, r, axis_name), state, d_rngs)
  state, g_metrics = g_phase(state, len(real), jax.random.fold_in(rng, 1), axis_name)
  metrics = {**jax.tree.map(lambda m: m[-1], d_metrics), **g_metrics}
  return state.replace(step=state.step + 1), parallel.pmean(metrics, axis_name)


def fixed_codings(config, num: int):
  """The codings every sample grid of a run uses, so grids over training compare."""
  return jax.random.normal(jax.random.key(config.seed + 1), (num, config.gan.codings))


def make_evaluate(config, mesh, test_batches, n: int, workdir: str):
  """Every eval: a sample grid from the run's fixed codings (`<workdir>/samples/`) and, with
  `config.gan.classifier_workdir`, the judged quality of `num_eval_samples` samples."""
  del mesh, test_batches, n
  z = fixed_codings(config, config.gan.num_grid)
  sample = jax.jit(generate)
  judge, eval_z = None, None
  if config.gan.classifier_workdir:
    judge = sample_quality.Judge(config.gan.classifier_workdir, config.dataset,
                                 config.data_dir or None)
    eval_z = jax.random.normal(jax.random.key(config.seed + 2),
                               (config.gan.num_eval_samples, config.gan.codings))

  def evaluate(state, step):
    images = jax.device_get(sample(state, z))
    scores = {}
    if judge is not None:
      scores = judge(np.concatenate([jax.device_get(sample(state, eval_z[i:i + 500]))
                                     for i in range(0, len(eval_z), 500)]))
    if jax.process_index() == 0:
      os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
      path = os.path.join(workdir, "samples", f"step_{step:07d}")
      viz.image_grid(images, path + ".png")
      if scores:
        with open(path + ".json", "w") as f:
          json.dump({k: np.asarray(v).tolist() for k, v in scores.items()}, f)
    return {k: v for k, v in scores.items() if np.ndim(v) == 0}

  return evaluate


def diagnose(config, history: list[dict]) -> list[str]:
  return sample_quality.collapse_warnings(history, data.info(config.dataset).num_classes)


def figures(state: GANState, config, test, workdir: str) -> list[str]:
  del test
  images = jax.device_get(jax.jit(generate)(state, fixed_codings(config, config.gan.num_grid)))
  return [viz.image_grid(images, os.path.join(workdir, "samples.png"))]
