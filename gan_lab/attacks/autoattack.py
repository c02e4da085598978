"""AutoAttack (Croce & Hein 2020): the ensemble RobustBench reports robust accuracy with.

The standard version runs APGD-CE, then APGD-T (9 targets), then FAB-T (9 targets), then
Square with 5,000 queries; each attack runs only on the examples every earlier one left
robust: the others are masked out, and an attack's loop ends as soon as none of the batch
is left. Since every attack treats each example on its own (its own keys, step sizes and
targets), an example's result is the same as if the attacks had run on it alone, in any
batch. `version="fast"` runs APGD-CE and APGD-T only.
"""

import jax
import jax.numpy as jnp

from gan_lab.attacks.apgd import apgd
from gan_lab.attacks.base import (LogitsFn, check_args, check_norm, example_keys,
                                  labels_or_predictions, where_example)
from gan_lab.attacks.fab import fab
from gan_lab.attacks.square import square
from gan_lab.core.errors import UserError

VERSIONS = {"standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
            "fast": ("apgd-ce", "apgd-t")}


def check_version(version: str, norm: str = "linf") -> None:
  if version not in VERSIONS:
    raise UserError(f"Unknown AutoAttack version {version!r}; choose one of "
                    f"{', '.join(VERSIONS)}.")
  check_norm(norm)


def autoattack(logits_fn: LogitsFn, x, y, eps: float, *, norm: str = "linf",
               version: str = "standard", rng=None, num_steps: int = 100,
               num_queries: int = 5000, bounds=(0.0, 1.0), axis_name: str | None = None):
  """(adversarial images, info): per example, the first attack of the version's order that
  fools the model within `eps`, and its adversarial image (the clean image where none does).

  info: {"fooled_by": {attack name: bool per example, True for the one that broke it},
  "queries": Square's queries per example (0 where it did not run)}. Examples the model
  gets wrong clean are attacked by none. `rng`: a key or one key per example (default key 0).
  """
  check_args(x, eps, bounds, y, logits_fn)
  check_version(version, norm)
  y = labels_or_predictions(logits_fn, x, y)
  keys = example_keys(jax.random.key(0) if rng is None else rng, x.shape[0], axis_name)
  robust = jnp.argmax(jax.lax.stop_gradient(logits_fn(x)), -1) == y
  x_adv, fooled_by, queries = x, {}, jnp.zeros(x.shape[:1], jnp.int32)
  for name in VERSIONS[version]:
    kw = {"norm": norm, "bounds": bounds, "active": robust}
    if name == "apgd-ce":
      z = apgd(logits_fn, x, y, eps, loss="ce", num_steps=num_steps, rng=keys, **kw)
    elif name == "apgd-t":
      z = apgd(logits_fn, x, y, eps, targeted=True, num_steps=num_steps, rng=keys, **kw)
    elif name == "fab-t":
      z = fab(logits_fn, x, y, eps, num_steps=num_steps, **kw)
    else:
      z, queries = square(logits_fn, x, y, eps, num_queries=num_queries,
                          rng=jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys), **kw)
    broke = robust & (jnp.argmax(logits_fn(z), -1) != y)
    x_adv = where_example(broke, z, x_adv)
    fooled_by[name] = broke
    robust = robust & ~broke
  return x_adv, {"fooled_by": fooled_by, "queries": queries}


__all__ = ["VERSIONS", "autoattack", "check_version"]
