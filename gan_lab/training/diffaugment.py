"""DiffAugment (Zhao et al. 2020): differentiable augmentations of everything D sees.

The same random transformations are applied to real and to generated images, in both
phases, and G's gradient flows back through them, so D cannot tell the two apart by the
augmentation and cannot memorise a small dataset (the 5,000 embedded digits) as easily.
`config.gan.augment` is a comma-separated policy of the reference implementation's three:

- "color": brightness + U(-0.25, 0.25) (the reference's +-0.5 on its [-1, 1] range), then
  saturation x U(0, 2) around each pixel's channel mean, then contrast x U(0.5, 1.5) around
  the image mean;
- "translation": a shift by up to 1/8 of each side, with zeros (black) shifted in;
- "cutout": a zeroed square half each side, its centre anywhere in the image.

Each example draws its own transformation from its global batch index
(`parallel.example_keys`), so the augmentation is the same however the batch is split.
The reference pads and cuts with 0 on its [-1, 1] range (grey); here 0 is black, the
digits' background.
"""

import jax
import jax.numpy as jnp

from gan_lab import parallel
from gan_lab.core.errors import UserError


def _color(x, key):
  b, s, c = jax.random.uniform(key, (3,))
  x = x + (b - 0.5) / 2.0  # The reference's shift of U(-0.5, 0.5) on [-1, 1].
  mean = jnp.mean(x, axis=-1, keepdims=True)
  x = (x - mean) * (2.0 * s) + mean
  mean = jnp.mean(x)
  return (x - mean) * (c + 0.5) + mean


def _translation(x, key, ratio: float = 0.125):
  h, w, _ = x.shape
  sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  dy = jax.random.randint(key, (), -sh, sh + 1)
  dx = jax.random.randint(jax.random.fold_in(key, 1), (), -sw, sw + 1)
  padded = jnp.pad(x, ((sh, sh), (sw, sw), (0, 0)))
  return jax.lax.dynamic_slice(padded, (sh + dy, sw + dx, 0), x.shape)


def _cutout(x, key, ratio: float = 0.5):
  h, w, _ = x.shape
  ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  cy = jax.random.randint(key, (), 0, h + (1 - ch % 2))
  cx = jax.random.randint(jax.random.fold_in(key, 1), (), 0, w + (1 - cw % 2))
  rows = jnp.arange(h) - (cy - ch // 2)
  cols = jnp.arange(w) - (cx - cw // 2)
  inside = ((rows >= 0) & (rows < ch))[:, None] & ((cols >= 0) & (cols < cw))[None, :]
  return x * (1.0 - inside[..., None].astype(x.dtype))


AUGMENTATIONS = {"color": _color, "translation": _translation, "cutout": _cutout}


def parse_policy(policy: str) -> tuple[str, ...]:
  """The augmentations of a policy such as "color,translation,cutout" ("" = none), in order."""
  names = tuple(p.strip() for p in policy.split(",") if p.strip())
  unknown = [n for n in names if n not in AUGMENTATIONS]
  if unknown:
    raise UserError(f"Unknown augmentation {unknown[0]!r} in config.gan.augment {policy!r}; "
                    f"use a comma-separated subset of {', '.join(AUGMENTATIONS)}, or '' for "
                    "none.")
  return names


def diff_augment(images, rng, policy: str, axis_name=None):
  """`images` [B, H, W, C] with the augmentations of `policy` applied to each example."""
  names = parse_policy(policy)
  if not names:
    return images

  def one(x, key):
    for i, name in enumerate(names):
      x = AUGMENTATIONS[name](x, jax.random.fold_in(key, i))
    return x

  return jax.vmap(one)(images, parallel.example_keys(rng, len(images), axis_name))
