"""A trained model as a function of images: inference mode, features, batched predictions.

A state here is anything with `apply_fn` and `variables()` (`gan_lab.training.state.TrainState`
has both). Every model takes float images in [0, 1], the space attack budgets live in.
"""

import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np

from gan_lab.core.errors import UserError


def to_float(images):
  """uint8 [0, 255] -> float32 [0, 1], the input space of every model (and of attack eps)."""
  return images.astype(jnp.float32) / 255.0


def logits_fn(state):
  """The model in inference mode as a function of float images: what attacks and eval use."""
  return functools.partial(state.apply_fn, state.variables(), train=False)


def logits_and_features(state):
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


def batched(fn, *arrays, batch_size: int = 500):
  """`fn(*arrays)` computed `batch_size` rows at a time, as numpy arrays (any pytree of them).

  The last batch is padded with repeated rows, so a jitted `fn` compiles once for all.
  """
  n = len(arrays[0])
  size = min(batch_size, n)
  order = np.arange(-(-n // size) * size) % n
  outs = [jax.device_get(fn(*(a[order[i:i + size]] for a in arrays)))
          for i in range(0, len(order), size)]
  return jax.tree.map(lambda *parts: np.concatenate(parts)[:n], *outs)
