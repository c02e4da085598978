"""The classifier experiment: softmax cross-entropy training of any model in `gan_lab.models`.

Steps are written per device in the pmap style: with `axis_name` set, gradients and metrics
are averaged across devices with `lax.pmean`; with None they run on one device as they are.
"""

import os

import jax
import jax.numpy as jnp
import optax

from gan_lab import data, models, parallel, viz
from gan_lab.core.errors import UserError
from gan_lab.inference import logits_fn, to_float
from gan_lab.training import chunks
from gan_lab.training.state import TrainState, apply_train, make_optimizer


def init_state(config, rng, total_steps: int) -> TrainState:
  """The state for `config`: its model (with `config.conv`), variables and optimizer."""
  if not noise_sd(config) >= 0:
    raise UserError(f"config.gaussian_noise_sd must be >= 0; got {noise_sd(config)}.")
  ds_info = data.info(config.dataset)
  model = models.create(config.model, conv=config.get("conv", "auto"),
                        dtype=config.get("dtype", "float32"),
                        num_classes=ds_info.num_classes, **config.model_kwargs)
  dummy = jnp.zeros((1, *ds_info.image_shape), jnp.float32)
  variables = model.init({"params": rng, "dropout": rng}, dummy, train=False)
  return TrainState.of(model, variables, make_optimizer(config, total_steps))


def cross_entropy(labels):
  """logits -> the batch mean of the softmax cross-entropy of `labels`: the classifier's loss."""
  return lambda logits: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def update(state: TrainState, images, loss, rng, axis_name=None):
  """One SGD step on `loss(logits) -> scalar` of the training-mode logits of `images` (the
  classifier's `cross_entropy`, the adversarial mix, TRADES' loss): (state, logits, loss,
  grads)."""

  def loss_fn(params):
    logits, new_state = apply_train(state, params, images, rng, axis_name)
    return loss(logits), (logits, new_state)

  (loss, (logits, state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  grads = parallel.pmean(grads, axis_name)
  return state.apply_gradients(grads=grads), logits, loss, grads


def noise_sd(config) -> float:
  """config.gaussian_noise_sd: 0 (off) for configs without it, such as runs made before it."""
  return config.get("gaussian_noise_sd", 0.0)


def train_images(config, images, rng, axis_name=None):
  """The training batch as float images, plus N(0, gaussian_noise_sd^2) noise if set, unclipped
  (randomized smoothing's base classifier, `gan_lab.smoothing`). The noise is drawn per
  example from `parallel.example_keys`, so it does not depend on the device split."""
  x = to_float(images)
  if not noise_sd(config):
    return x
  keys = parallel.example_keys(rng, len(x), axis_name)
  return x + noise_sd(config) * jax.vmap(lambda k: jax.random.normal(k, x.shape[1:]))(keys)


def make_train_step(config):
  """(state, batch {"image": uint8, "label": int}, rng) -> (state, metrics): one SGD step,
  on images with Gaussian noise if config.gaussian_noise_sd > 0 (evaluation stays clean)."""

  def train_step(state: TrainState, batch, rng, *, axis_name=None):
    labels = batch["label"]
    # The dropout key stays `rng`, so that runs without noise are as before.
    x = train_images(config, batch["image"], jax.random.fold_in(rng, 1), axis_name)
    state, logits, loss, grads = update(state, x, cross_entropy(labels), rng, axis_name)
    metrics = {
        "loss": loss,
        "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels),
        "grad_norm": optax.tree.norm(grads),
    }
    return state, parallel.pmean(metrics, axis_name)

  return train_step


def eval_step(state: TrainState, batch):
  """Sums over the batch's real examples (`mask` is 0 on padding), to be added up over batches."""
  logits = logits_fn(state)(to_float(batch["image"]))
  mask = batch["mask"]
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
  return {
      "loss": jnp.sum(losses * mask),
      "correct": jnp.sum((jnp.argmax(logits, -1) == batch["label"]) * mask),
      "count": jnp.sum(mask),
  }


def eval_metrics(sums) -> dict:
  return {"loss": sums["loss"] / sums["count"], "accuracy": sums["correct"] / sums["count"]}


def make_evaluate(config, mesh, test_batches, n: int, workdir: str):
  """Loss and accuracy over the whole test split."""
  del workdir
  # Eval batches only set throughput: round up to a multiple of the device count.
  batch = -(-config.eval_batch_size // mesh.size) * mesh.size
  run = chunks.make_scan_evaluate(eval_step, eval_metrics, batch, mesh, config.parallel)
  return lambda state, step: run(state, test_batches, n)


def figures(state: TrainState, config, test, workdir: str) -> list[str]:
  """The first layer's filters, and the first conv layer's feature maps of one test image."""
  ds_info = data.info(config.dataset)
  first = next((state.params[k] for k in ("Conv_0", "Dense_0") if k in state.params), None)
  if first is None:  # A model of the user's own, with other layer names.
    return []
  paths = [viz.first_layer_filters(first["kernel"], os.path.join(workdir, "filters.png"),
                                   ds_info.image_shape)]
  image = to_float(test["image"][:1])
  _, inter = state.apply_fn(state.variables(), image, train=False, capture_intermediates=True,
                            mutable=["intermediates"])
  convs = [v["__call__"][0] for k, v in inter["intermediates"].items() if k.startswith("Conv")]
  if convs:
    paths.append(viz.feature_maps(image[0], convs[0][0], os.path.join(
        workdir, "feature_maps.png"), title="conv1"))
  return paths
