"""The persistent compilation cache the scripts turn on (gan_lab.core.compile_cache)."""

import os
import subprocess
import sys

import jax
import pytest
from absl import logging

from gan_lab.core import compile_cache

# Compiles one program and prints what this process's cache did: its directory, and hits.
_TWICE = """
import jax, jax.numpy as jnp
from gan_lab.core import compile_cache
hits = []
jax.monitoring.register_event_listener(
    lambda e, **k: hits.append(e) if e == "/jax/compilation_cache/cache_hits" else None)
path = compile_cache.enable()
before = len(hits)
jax.jit(lambda x: jnp.tanh(x) @ x.T + 3.0)(jnp.ones((8, 8))).block_until_ready()
print(path, len(hits) - before)
"""


def test_directory_follows_the_environment(monkeypatch, tmp_path):
  key = f"cpu-{compile_cache.cpu_key()}"
  monkeypatch.setenv("GAN_LAB_COMPILE_CACHE", str(tmp_path / "c"))
  assert compile_cache.directory() == str(tmp_path / "c" / key)
  monkeypatch.setenv("GAN_LAB_COMPILE_CACHE", "off")
  assert compile_cache.directory() is None
  monkeypatch.delenv("GAN_LAB_COMPILE_CACHE")
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
  assert compile_cache.directory() == str(tmp_path / "xdg" / "gan_lab" / "jax" / key)
  assert len(compile_cache.cpu_key()) == 12
  assert compile_cache.environment("/c") == {  # What JAX reads at import, same settings.
      "JAX_COMPILATION_CACHE_DIR": "/c", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
      "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def test_a_second_process_reads_what_the_first_compiled(tmp_path):
  env = {**os.environ, "GAN_LAB_COMPILE_CACHE": str(tmp_path)}
  runs = [subprocess.run([sys.executable, "-c", _TWICE], env=env, capture_output=True,
                         text=True, timeout=120) for _ in range(2)]
  for run in runs:
    assert run.returncode == 0, run.stderr[-2000:]
  (path1, hits1), (path2, hits2) = (run.stdout.split() for run in runs)
  if int(hits2) == 0 and ("is not supported on the host machine" in runs[1].stderr or
                          "Error reading persistent compilation cache" in runs[1].stderr):
    pytest.skip("this jaxlib rejects its own CPU cache entries on this host (jax-ml/jax#38445)")
  assert path1 == path2 == str(tmp_path / f"cpu-{compile_cache.cpu_key()}")
  assert int(hits1) == 0 and int(hits2) >= 1  # ones(), then the jitted lambda.
  assert any(name.startswith("jit__lambda") for name in os.listdir(path1))


def test_an_unusable_directory_leaves_compiling_uncached(monkeypatch, tmp_path):
  warnings = []
  monkeypatch.setattr(logging, "warning", lambda msg, *args: warnings.append(msg % args))
  cache_dir = jax.config.jax_compilation_cache_dir
  (tmp_path / "file").write_text("")
  monkeypatch.setenv("GAN_LAB_COMPILE_CACHE", str(tmp_path / "file"))  # Not a directory.
  assert compile_cache.enable() is None
  assert warnings == [f"Compiling without a cache: cannot create {tmp_path / 'file'}/cpu-"
                      f"{compile_cache.cpu_key()} (Not a directory)."]
  assert jax.config.jax_compilation_cache_dir == cache_dir  # The suite's own, untouched.
  assert jax.jit(lambda x: x + 1)(1.0) == 2.0
