"""Spectral normalisation (Miyato et al. 2018) as an option of a layer, for discriminators."""

import flax.linen as nn


def maybe_spectral_norm(layer: nn.Module, on: bool, train: bool):
  """`layer` itself, or with `on` a function calling it with its weight divided by the weight's
  largest singular value (`nn.SpectralNorm`: one power iteration per training call, its
  vector in the "batch_stats" collection; eval calls reuse the stored estimate)."""
  if not on:
    return layer
  return lambda x: nn.SpectralNorm(layer)(x, update_stats=train)
