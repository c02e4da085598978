"""Shared fixtures: an offline TFDS data dir for the session and tiny configs.

`make test` runs the suite on two pytest-xdist workers (a file's tests on one worker); the
embedded dataset is prepared once, by whichever worker comes first, under a file lock.
"""

import fcntl
import os
import subprocess
import sys
import tempfile

# Before anything imports jax or TFDS; subprocesses inherit these.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["TFDS_DATA_DIR"] = os.path.join(tempfile.gettempdir(), "gan_lab_tests_tfds")
# The suite's programs run a few steps each, so compiling them is most of its time, and
# LLVM's -O1 compiles them faster than XLA's default -O3. The tests that really train ran as
# fast at -O1, but in benchmarks/run.py's steady state seed CNN training and VAT were 15-18%
# slower in both of two rounds, which is why only the suite uses it. -O0 compiles faster
# still, but doubled the training tests. Cold suite on the 2-core AMD EPYC build host: 690 s
# -> 507 s. First, so a flag of the user's overrides it (and once: pytest-xdist's workers
# inherit the controller's environment).
_FAST_COMPILE = "--xla_backend_optimization_level=1"
if _FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = f"{_FAST_COMPILE} {os.environ.get('XLA_FLAGS', '')}".strip()


# Tests and their subprocesses compile the same tiny steps many times over (each run builds
# its own jitted chunk): the persistent cache compiles each once per machine, in a directory
# of the suite's own. Subprocesses inherit it: scripts enable it, and `python -c` ones get it
# through JAX's own variables.
os.environ.setdefault("GAN_LAB_COMPILE_CACHE", os.path.join(tempfile.gettempdir(),
                                                            "gan_lab_tests_jax_cache"))

import pytest  # pylint: disable=g-import-not-at-top

from gan_lab.core import compile_cache  # pylint: disable=g-import-not-at-top
from gan_lab.core import config as config_lib  # pylint: disable=g-import-not-at-top
from gan_lab.core.config import classifier_config  # pylint: disable=g-import-not-at-top

_CACHE = compile_cache.directory()
if _CACHE:  # None: GAN_LAB_COMPILE_CACHE=off.
  for _name, _value in compile_cache.environment(_CACHE).items():
    os.environ.setdefault(_name, _value)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def simulated_devices(count: int) -> dict:
  """The environment of a subprocess with `count` simulated CPU devices (on top of any
  XLA_FLAGS of this process's)."""
  flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={count}"
  return {**os.environ, "XLA_FLAGS": flags.strip()}


def pytest_configure(config):
  """Prepares mnist5k in TFDS_DATA_DIR before any test, once for all workers."""
  del config
  compile_cache.enable()
  from gan_lab import data  # pylint: disable=g-import-not-at-top  # After the env is set.
  os.makedirs(os.environ["TFDS_DATA_DIR"], exist_ok=True)
  with open(os.path.join(os.environ["TFDS_DATA_DIR"], ".prepare.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # Released when the file closes, or the process dies.
    data.load("mnist5k", "test")


def tiny_config(**overrides):
  """A small ConvNet on mnist5k: a few steps take seconds on a 2-core CPU."""
  c = classifier_config()
  c.model = "ConvNet"
  c.model_kwargs.layers = ({"filters": 4},)
  c.model_kwargs.dense = (16,)
  c.batch_size = 32
  c.num_steps = 8
  c.log_every = 4
  c.eval_batch_size = 250
  c.update(overrides)
  return c


@pytest.fixture
def tiny():
  return tiny_config


@pytest.fixture(scope="session")
def classifier_run(tmp_path_factory):
  """(workdir, state) of a small ConvNet trained on mnist5k to ~0.89 test accuracy (~7 s)."""
  from gan_lab.runs import loop  # pylint: disable=g-import-not-at-top
  config = tiny_config(num_steps=150, log_every=50, batch_size=64)
  config.model_kwargs.layers = ({"filters": 8},)
  config.model_kwargs.dense = (32,)
  workdir = tmp_path_factory.mktemp("classifier")
  return str(workdir), loop.train_and_evaluate(config, str(workdir))


def run_script(script, *args, timeout=300, env=None, cwd=REPO):
  """Runs an experiments/ script in a fresh interpreter; returns the CompletedProcess.

  `env`: variables to set on top of this process's environment; `cwd`: where it runs
  (relative paths among `args` are relative to it).
  """
  return subprocess.run([sys.executable, os.path.join(REPO, "experiments", script), *args],
                        capture_output=True, text=True, timeout=timeout, cwd=cwd,
                        env={**os.environ, **(env or {})})


def load_config_file(name):
  """get_config() of experiments/configs/<name>.py, or of the config file at path `name`."""
  path = name if name.endswith(".py") else os.path.join(REPO, "experiments", "configs",
                                                          f"{name}.py")
  return config_lib.from_file(path)
