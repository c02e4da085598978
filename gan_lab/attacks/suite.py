"""Named attacks for evaluation: the registry `ATTACKS`, `AttackSpec` and `craft`.

An evaluation runs the attacks an `AttackSpec` names on every batch (`craft`), each as
`fn(logits_fn, x, y, eps, keys, spec) -> adversarial x`, with `y` the labels (targeted: the
targets) and `keys` one random key per example, derived from the example's index in its
split: results do not depend on the batch size or the number of devices.
"""

import dataclasses

import jax
import jax.numpy as jnp

from gan_lab.attacks.fgsm import fgsm
from gan_lab.attacks.noise import random_noise
from gan_lab.attacks.pgd import pgd
from gan_lab.core.errors import UserError
from gan_lab.core.registry import Registry


def _noise(logits_fn, x, y, eps, keys, spec):
  del logits_fn, y, spec
  # Its own keys: the same keys would make PGD's start the noise's negative.
  return random_noise(x, eps, jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys))


def _fgsm(logits_fn, x, y, eps, keys, spec):
  del keys
  return fgsm(logits_fn, x, y, eps, targeted=spec.targeted)


def _pgd(logits_fn, x, y, eps, keys, spec):
  return pgd(logits_fn, x, y, eps, step_size=spec.pgd_step_size, num_steps=spec.pgd_steps,
             targeted=spec.targeted, rng=keys if spec.random_start else None)


# What AttackSpec.attacks names. Add one with `ATTACKS.register`, or name
# "package.module:fn" of one's own (docs/extending.md).
ATTACKS = Registry("attack", {"noise": _noise, "fgsm": _fgsm, "pgd": _pgd})
DEFAULT_ATTACKS = ("noise", "fgsm", "pgd")


@dataclasses.dataclass(frozen=True)
class AttackSpec:
  """Which attacks to run and how; eps comes separately, one value per pass."""
  attacks: tuple[str, ...] = DEFAULT_ATTACKS
  pgd_steps: int = 10
  pgd_step_size: float | None = None   # None: 2.5 * eps / pgd_steps (Madry et al.).
  random_start: bool = True            # PGD from a random point of the eps-ball (else BIM).
  targeted: bool = False
  target_class: int | None = None      # Targeted: None = a random other class per example.

  def __post_init__(self):
    if not self.attacks:
      raise UserError(f"No attack given; choose from {', '.join(ATTACKS)}.")
    for name in self.attacks:
      ATTACKS.lookup(name)
    if self.pgd_steps < 1:
      raise UserError(f"pgd_steps must be >= 1; got {self.pgd_steps}.")
    if self.targeted and "noise" in self.attacks and len(self.attacks) == 1:
      raise UserError("Noise has no target; pick fgsm or pgd for a targeted attack.")


def target_labels(labels, index, key, num_classes: int, target_class: int | None):
  """The class each example is pushed towards: `target_class`, or a random other class."""
  if target_class is not None:
    return jnp.full_like(labels, target_class)
  shift = jax.vmap(lambda i: jax.random.randint(jax.random.fold_in(key, i), (), 1,
                                                num_classes))(index)
  return (labels + shift) % num_classes


def craft(logits_fn, x, labels, index, eps, key, spec: AttackSpec, num_classes: int):
  """({attack name: adversarial images}, the labels attacked) for one batch.

  Targeted, the labels attacked are the targets; `index` keys all randomness.
  """
  target_key, start_key = jax.random.split(key)
  keys = jax.vmap(lambda i: jax.random.fold_in(start_key, i))(index)
  y = target_labels(labels, index, target_key, num_classes,
                    spec.target_class) if spec.targeted else labels
  return {name: ATTACKS.lookup(name)(logits_fn, x, y, eps, keys, spec)
          for name in spec.attacks}, y
