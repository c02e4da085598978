"""The classifier experiment: softmax cross-entropy training of any model in `gan_lab.models`.

Steps are written per device in the pmap style: with `axis_name` set, gradients and metrics
are averaged across devices with `lax.pmean`; with None they run on one device as they are.
"""

import functools
import json
import os

import flax
import jax
import jax.numpy as jnp
import optax

from gan_lab import checkpoint, data, models, parallel, viz, workdirs
from gan_lab.errors import UserError
from gan_lab.training import chunks
from gan_lab.training.state import TrainState, make_optimizer


def to_float(images):
  """uint8 [0, 255] -> float32 [0, 1], the input space of every model (and of attack eps)."""
  return images.astype(jnp.float32) / 255.0


def init_state(config, rng, total_steps: int, axis_name: str | None = parallel.AXIS) -> TrainState:
  """The state for `config`; its model runs its training step under device axis `axis_name`."""
  ds_info = data.info(config.dataset)
  model = models.create(config.model, axis_name=axis_name, num_classes=ds_info.num_classes,
                        **config.model_kwargs)
  dummy = jnp.zeros((1, *ds_info.image_shape), jnp.float32)
  try:
    variables = model.init({"params": rng, "dropout": rng}, dummy, train=False)
  except (TypeError, ValueError, ZeroDivisionError) as e:  # Bad model_kwargs surface here.
    raise UserError(f"Bad model_kwargs for {config.model}: {e}") from e
  return TrainState.create(
      apply_fn=model.apply,
      params=variables["params"],
      batch_stats=variables.get("batch_stats", {}),
      tx=make_optimizer(config, total_steps),
  )


def update(state: TrainState, images, labels, rng, axis_name=None, reduce=jnp.mean):
  """One SGD step on the softmax cross-entropy: (state, logits, loss, grads).

  `reduce` turns the per-example cross-entropies into the loss (the batch mean, or the
  adversarial mix's weighted sum).
  """

  def loss_fn(params):
    logits, updates = state.apply_fn(
        state.replace(params=params).variables(), images, train=True,
        rngs={"dropout": rng}, mutable=["batch_stats"])
    loss = reduce(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
    return loss, (logits, updates)

  (loss, (logits, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  grads = parallel.pmean(grads, axis_name)
  state = state.apply_gradients(grads=grads, batch_stats=updates.get("batch_stats", {}))
  return state, logits, loss, grads


def train_step(state: TrainState, batch, rng, *, axis_name=None):
  """One SGD step on a batch {"image": uint8, "label": int}: (state, batch, rng) -> (state, metrics)."""
  labels = batch["label"]
  state, logits, loss, grads = update(state, to_float(batch["image"]), labels, rng, axis_name)
  metrics = {
      "loss": loss,
      "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels),
      "grad_norm": optax.tree.norm(grads),
  }
  return state, parallel.pmean(metrics, axis_name)


def restore(workdir: str, step: int | None = None):
  """(config, state, step) of a classifier run (any experiment with a `model`), for inference."""
  config = workdirs.load_config(workdir)
  if "model" not in config:
    raise UserError(f"{workdir} holds a {config.experiment!r} run, not a classifier; pass the "
                    "workdir of a classifier run (experiments/train.py with a classifier "
                    "config).")
  return checkpoint.restore_from_workdir(workdir, step)


def logits_fn(state: TrainState):
  """The model in inference mode as a function of float images: what attacks and eval use."""
  return functools.partial(state.apply_fn, state.variables(), train=False)


def logits_and_features(state: TrainState):
  """x -> (logits, penultimate features) in inference mode, for models that sow "features"."""

  def fn(x):
    logits, inter = state.apply_fn(state.variables(), x, train=False, mutable=["intermediates"])
    sown = [v for path, v in flax.traverse_util.flatten_dict(inter.get("intermediates", {})).items()
            if path[-1] == "features"]
    if not sown:
      raise UserError("The classifier's model sows no 'features' (its penultimate "
                      "activations); add self.sow('intermediates', 'features', x) before its "
                      "last Dense layer.")
    return logits, sown[-1][0]

  return fn


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
  return {"test_loss": sums["loss"] / sums["count"],
          "test_accuracy": sums["correct"] / sums["count"]}


def make_evaluate(config, mesh, test_batches, n: int, workdir: str):
  """Test loss and accuracy over the whole test split."""
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


COMPARISON_FILE = "cnn_vs_mlp.json"


def compare_models(configs: dict, workdir: str) -> dict:
  """Trains each of {name: config} in <workdir>/<name> and compares them: the lecture's CNN
  vs DNN. Writes and returns {name: {model, params, test_accuracy, steps, workdir}} with the
  lecture's arithmetic (a 100x100 image into Dense(1000) against a 3x3 conv) beside them."""
  from gan_lab.training import loop  # pylint: disable=g-import-not-at-top  # loop imports us.
  final = loop.train_many(configs, workdir)  # A run's last record holds its final eval.
  result = {"lecture_arithmetic": models.lecture_arithmetic()}
  for name, config in configs.items():
    shapes = jax.eval_shape(lambda c=config: init_state(c, jax.random.key(0), 1, None))
    result[name] = {"model": config.model, "params": models.param_count(shapes.params),
                    "test_accuracy": final[name]["test_accuracy"], "steps": final[name]["step"],
                    "workdir": final[name]["workdir"]}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, COMPARISON_FILE), "w") as f:
      json.dump(result, f, indent=2)
  return result
