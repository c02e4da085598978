"""Named attacks for evaluation: the registry `ATTACKS`, `AttackSpec` and `craft`.

An evaluation runs the attacks an `AttackSpec` names on every batch (`craft`), each as
`fn(logits_fn, x, y, eps, keys, spec) -> adversarial x` (or `(adversarial x, extras)`, a dict
of per-example arrays such as Square's query counts), with `y` the labels (targeted: the
targets) and `keys` one random key per example, derived from the example's index in its
split: results do not depend on the batch size or the number of devices.
"""

import dataclasses

import jax
import jax.numpy as jnp

from gan_lab.attacks.apgd import apgd
from gan_lab.attacks.autoattack import autoattack, check_version
from gan_lab.attacks.fab import fab
from gan_lab.attacks.fgsm import fgsm
from gan_lab.attacks.noise import random_noise
from gan_lab.attacks.pgd import pgd
from gan_lab.attacks.square import square
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


def _apgd_ce(logits_fn, x, y, eps, keys, spec):
  return apgd(logits_fn, x, y, eps, num_steps=spec.apgd_steps, rng=keys)


def _apgd_t(logits_fn, x, y, eps, keys, spec):
  return apgd(logits_fn, x, y, eps, targeted=True, num_steps=spec.apgd_steps, rng=keys)


def _fab_t(logits_fn, x, y, eps, keys, spec):
  del keys
  return fab(logits_fn, x, y, eps, num_steps=spec.apgd_steps)


def _square(logits_fn, x, y, eps, keys, spec):
  x_adv, queries = square(logits_fn, x, y, eps, num_queries=spec.square_queries, rng=keys)
  return x_adv, {"queries": queries}


def _autoattack(logits_fn, x, y, eps, keys, spec):
  x_adv, info = autoattack(logits_fn, x, y, eps, version=spec.autoattack_version, rng=keys,
                           num_steps=spec.apgd_steps, num_queries=spec.square_queries)
  return x_adv, {"queries": info["queries"], **{f"fooled_by_{name}": fooled for name, fooled
                                                  in info["fooled_by"].items()}}


# What AttackSpec.attacks names. Add one with `ATTACKS.register`, or name
# "package.module:fn" of one's own (docs/extending.md).
ATTACKS = Registry("attack", {"noise": _noise, "fgsm": _fgsm, "pgd": _pgd, "apgd-ce": _apgd_ce,
                              "apgd-t": _apgd_t, "fab-t": _fab_t, "square": _square,
                              "autoattack": _autoattack})
DEFAULT_ATTACKS = ("noise", "fgsm", "pgd")
# Robustness evaluations that pick their own targets (or none): not for --targeted.
UNTARGETED_ONLY = ("apgd-ce", "apgd-t", "fab-t", "square", "autoattack")


@dataclasses.dataclass(frozen=True)
class AttackSpec:
  """Which attacks to run and how; eps comes separately, one value per pass."""
  attacks: tuple[str, ...] = DEFAULT_ATTACKS
  pgd_steps: int = 10
  pgd_step_size: float | None = None   # None: 2.5 * eps / pgd_steps (Madry et al.).
  random_start: bool = True            # PGD from a random point of the eps-ball (else BIM).
  targeted: bool = False
  target_class: int | None = None      # Targeted: None = a random other class per example.
  apgd_steps: int = 100                # APGD's and FAB's iterations (AutoAttack's 100).
  square_queries: int = 5000           # Square's query budget (AutoAttack's 5,000).
  autoattack_version: str = "standard"  # Or "fast": APGD-CE and APGD-T only.

  def __post_init__(self):
    if not self.attacks:
      raise UserError(f"No attack given; choose from {', '.join(ATTACKS)}.")
    for name in self.attacks:
      ATTACKS.lookup(name)
    if self.pgd_steps < 1:
      raise UserError(f"pgd_steps must be >= 1; got {self.pgd_steps}.")
    if self.targeted and "noise" in self.attacks and len(self.attacks) == 1:
      raise UserError("Noise has no target; pick fgsm or pgd for a targeted attack.")
    own = [name for name in self.attacks if name in UNTARGETED_ONLY]
    if self.targeted and own:
      raise UserError(f"{', '.join(own)} measure untargeted robustness (APGD-T and FAB-T pick "
                      "their own targets); drop --targeted, or pick fgsm or pgd.")
    if self.apgd_steps < 1:
      raise UserError(f"apgd_steps must be >= 1; got {self.apgd_steps}.")
    if self.square_queries < 1:
      raise UserError(f"num_queries must be >= 1; got {self.square_queries}.")
    check_version(self.autoattack_version)


def target_labels(labels, index, key, num_classes: int, target_class: int | None):
  """The class each example is pushed towards: `target_class`, or a random other class."""
  if target_class is not None:
    return jnp.full_like(labels, target_class)
  shift = jax.vmap(lambda i: jax.random.randint(jax.random.fold_in(key, i), (), 1,
                                                num_classes))(index)
  return (labels + shift) % num_classes


def craft(logits_fn, x, labels, index, eps, key, spec: AttackSpec, num_classes: int):
  """({attack name: adversarial images}, {attack name: extras}, the labels attacked) for one
  batch. Targeted, the labels attacked are the targets; `index` keys all randomness.
  """
  target_key, start_key = jax.random.split(key)
  keys = jax.vmap(lambda i: jax.random.fold_in(start_key, i))(index)
  y = target_labels(labels, index, target_key, num_classes,
                    spec.target_class) if spec.targeted else labels
  adv, extras = {}, {}
  for name in spec.attacks:
    out = ATTACKS.lookup(name)(logits_fn, x, y, eps, keys, spec)
    adv[name], extras[name] = out if isinstance(out, tuple) else (out, {})
  return adv, extras, y
