"""Sampling from a GAN run's generator: the functions behind experiments/sample.py."""

import os

import jax
import jax.numpy as jnp
import numpy as np

from gan_lab import viz
from gan_lab.core.errors import UserError
from gan_lab.runs import restore, workdirs


def sample(workdir: str, num: int, seed: int = 0, step: int | None = None,
           interpolate: bool = False, weights: str = "auto") -> np.ndarray:
  """Samples [num, H, W, C] float32 in [0, 1] (or [num * 10, ...] rows of an interpolation).

  Deterministic in (workdir, step, seed, weights): inference-mode BatchNorm, codings from
  `seed`; `weights` as `restore.restore_generator` (the moving average where there is one).
  """
  if num < 1:
    raise UserError(f"num_samples must be at least 1; got {num}.")
  config, generator, _ = restore.restore_generator(workdir, step, weights)
  key = jax.random.key(seed)
  if interpolate:
    ends = jax.random.normal(key, (2, num, config.gan.codings))
    t = jnp.linspace(0.0, 1.0, 10)[None, :, None]
    z = ((1 - t) * ends[0][:, None] + t * ends[1][:, None]).reshape(-1, config.gan.codings)
  else:
    z = jax.random.normal(key, (num, config.gan.codings))
  images = jax.jit(lambda g, z: g.apply_fn(g.variables(), z, train=False))(generator, z)
  return np.asarray(images, np.float32)


def write_samples(workdir: str, out: str, **kwargs) -> str:
  """Writes `out` (PNG grid) and `out` with suffix .npy; never over an existing file."""
  if not out.endswith(".png"):
    raise UserError(f"--out must name a .png file; got {out!r}.")
  out = workdirs.local_path(out, "--out")
  npy = os.path.splitext(out)[0] + ".npy"
  workdirs.refuse_existing((out, npy))
  workdirs.writable_dir(os.path.dirname(out), "--out", shown=out)
  images = sample(workdir, **kwargs)
  os.makedirs(os.path.dirname(out), exist_ok=True)
  np.save(npy, images)
  viz.image_grid(images, out, ncols=10 if kwargs.get("interpolate") else None)
  return out
