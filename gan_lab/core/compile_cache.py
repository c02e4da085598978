"""JAX's persistent compilation cache, as the scripts and the test suite use it.

A run compiles the same programs as the runs before it (and an evaluation compiles one
program per model it attacks, each time a new jit of the same computation): with the
cache, each compiles once per machine. `GAN_LAB_COMPILE_CACHE` names the directory
(default: $XDG_CACHE_HOME/gan_lab/jax, i.e. ~/.cache/gan_lab/jax); `off` disables it.
Entries sit in a subdirectory per CPU feature set, so a home directory shared by hosts of
different ISAs never serves one host's code to another. As by JAX's default, the cache is
not bounded (the test suite leaves about 60 MB; delete the directory to reclaim it): JAX's
size limit rescans every entry on each write, quadratic in the entries (the suite writes
~4,000). Some jaxlib builds reject CPU entries on load (jax-ml/jax#38445: "Target machine
feature ... is not supported"): each then costs a recompile and a log line, and
GAN_LAB_COMPILE_CACHE=off quiets them.
"""

import hashlib
import os

import jax
from absl import logging

_OFF = ("off", "0", "false", "no", "none")


def cpu_key() -> str:
  """A short hash of this CPU's feature flags (/proc/cpuinfo; empty where there is none)."""
  try:
    with open("/proc/cpuinfo") as f:
      flags = next((line for line in f if line.startswith(("flags", "Features"))), "")
  except OSError:
    flags = ""
  return hashlib.sha256(flags.encode()).hexdigest()[:12]


def directory() -> str | None:
  """Where compiled programs are cached on this machine, or None when GAN_LAB_COMPILE_CACHE
  turns the cache off."""
  base = os.environ.get("GAN_LAB_COMPILE_CACHE", "")
  if base.lower() in _OFF:
    return None
  if not base:
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    base = os.path.join(home, "gan_lab", "jax")
  return os.path.join(base, f"cpu-{cpu_key()}")


def _settings(path: str) -> dict:
  """JAX's config for a cache in `path` that keeps every compiled program, however quick to
  compile or small."""
  return {"jax_compilation_cache_dir": path, "jax_persistent_cache_min_compile_time_secs": 0,
          "jax_persistent_cache_min_entry_size_bytes": 0}


def enable() -> str | None:
  """Turns the cache on for this process (see the module docstring) and returns its
  directory, or None when it is off or cannot be created (said in one line). It touches no
  device, so it may run before jax.distributed.initialize()."""
  path = directory()
  if path is None:
    return None
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    logging.warning("Compiling without a cache: cannot create %s (%s).", path, e.strerror)
    return None
  for name, value in _settings(path).items():
    jax.config.update(name, value)
  return path


def environment(path: str) -> dict:
  """The same cache as JAX's own environment variables, for a process that does not call
  `enable` (a `python -c` subprocess)."""
  return {name.upper(): str(value) for name, value in _settings(path).items()}


__all__ = ["cpu_key", "directory", "enable", "environment"]
