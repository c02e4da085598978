"""Builds libdnnl_conv.so, the oneDNN convolution behind `config.conv = "onednn"`.

  pip install -e '.[onednn]' && python -m gan_lab.native.build    (what `make install` runs)

Compiles dnnl_conv.cc with g++ against XLA's FFI headers (shipped with jaxlib) and oneDNN
3.2 from the `onednn-cpu-gomp` wheels (headers and libdnnl in the environment's include/ and
lib/). Where those are missing (not x86-64 Linux, or no g++), it says so and exits 0: the
fast path is optional and the XLA convolution is the default everywhere. Beside the library
it records the jax and jaxlib it was built against (`STAMP`): a library built for other
versions is not loaded (`stale`), since the FFI headers it was compiled with may differ.
"""

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys

import jax

HERE = os.path.dirname(os.path.abspath(__file__))
LIBRARY = os.path.join(HERE, "libdnnl_conv.so")
STAMP = LIBRARY + ".json"


def versions() -> dict:
  """The jax and jaxlib installed now: what a library must have been built against."""
  return {name: importlib.metadata.version(name) for name in ("jax", "jaxlib")}


def stale() -> str | None:
  """Why the built library must not be loaded (built for other jax/jaxlib), or None."""
  try:
    with open(STAMP) as f:
      built = json.load(f)
  except (OSError, ValueError):
    return f"{LIBRARY} has no record of the jax it was built for"
  now = versions()
  if built != now:
    return (f"{LIBRARY} was built for jax {built.get('jax')}, jaxlib {built.get('jaxlib')}; "
            f"this is jax {now['jax']}, jaxlib {now['jaxlib']}")
  return None


def _onednn_prefix() -> str | None:
  """The prefix whose include/ and lib/ hold oneDNN, if the wheel is installed."""
  for prefix in (sys.prefix, sys.base_prefix):
    if (os.path.exists(os.path.join(prefix, "include", "oneapi", "dnnl", "dnnl.hpp"))
        and os.path.exists(os.path.join(prefix, "lib", "libdnnl.so"))):
      return prefix
  return None


def main() -> int:
  prefix, compiler = _onednn_prefix(), shutil.which(os.environ.get("CXX", "g++"))
  if prefix is None or compiler is None:
    missing = "the onednn-cpu-gomp wheels (pip install -e '.[onednn]'; x86-64 Linux)" \
        if prefix is None else "a C++ compiler (g++)"
    print(f"gan_lab: oneDNN convolution not built: no {missing}. The XLA convolution works "
          "without it.")
    return 0
  lib = os.path.join(prefix, "lib")
  command = [compiler, "-O3", "-std=c++17", "-fopenmp", "-shared", "-fPIC",
             "-fvisibility=hidden", "-isystem", jax.ffi.include_dir(),
             "-isystem", os.path.join(prefix, "include"), os.path.join(HERE, "dnnl_conv.cc"),
             "-o", LIBRARY + ".tmp", f"-L{lib}", "-ldnnl", f"-Wl,-rpath,{lib}"]
  subprocess.run(command, check=True)
  os.replace(LIBRARY + ".tmp", LIBRARY)  # A failed build leaves the last good library.
  with open(STAMP + ".tmp", "w") as f:
    json.dump(versions(), f)
  os.replace(STAMP + ".tmp", STAMP)
  print(f"gan_lab: built {LIBRARY}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
