"""The oneDNN kernel's life cycle: what happens without a compiler, after a jax upgrade, and in
an installed (not editable) gan_lab. These run wherever the suite runs, built or not."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

from conftest import REPO
from gan_lab.native import build


def _python(code, **env):
  return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        cwd=REPO, env={**os.environ, **env}, timeout=300)


def test_without_a_compiler_the_build_says_so_and_keeps_the_last_library():
  before = os.stat(build.LIBRARY).st_mtime_ns if os.path.exists(build.LIBRARY) else None
  out = subprocess.run([sys.executable, "-m", "gan_lab.native.build"], capture_output=True,
                       text=True, cwd=REPO, timeout=300,
                       env={**os.environ, "CXX": "/nonexistent/g++"})
  assert out.returncode == 0, out.stderr
  lines = out.stdout.strip().splitlines()
  assert len(lines) == 1 and "oneDNN convolution not built: no" in lines[0], out.stdout
  assert "The XLA convolution works without it." in lines[0]
  after = os.stat(build.LIBRARY).st_mtime_ns if os.path.exists(build.LIBRARY) else None
  assert after == before


def test_a_library_built_for_another_jax_is_not_loaded(tmp_path):
  """The stamp beside the library names other versions: one warning, and the XLA
  convolution is what runs (config.conv = "onednn" gets one sentence)."""
  stamp = tmp_path / "stamp.json"
  stamp.write_text(json.dumps({"jax": "0.0.1", "jaxlib": "0.0.1"}))
  code = f"""
import os
from gan_lab.native import build
build.LIBRARY, build.STAMP = {str(tmp_path / "lib.so")!r}, {str(stamp)!r}
open(build.LIBRARY, "w").close()
from absl import logging
logging.set_verbosity(logging.INFO)
from gan_lab.models import conv, onednn
from gan_lab.core.errors import UserError
assert not onednn.available()
print("auto:", conv.resolve("auto"), conv.resolve("auto"), conv.for_restore("onednn"))
try:
  conv.check_implementation("onednn")
except UserError as e:
  print("refused:", e)
"""
  out = _python(code)
  assert out.returncode == 0, out.stderr
  assert "was built for jax 0.0.1, jaxlib 0.0.1; this is jax" in out.stderr
  assert out.stderr.count("the oneDNN convolution is not used") == 1
  # The default falls back, saying so once; a run recorded on oneDNN restores on XLA's.
  assert "auto: xla xla auto" in out.stdout
  assert out.stderr.count("the models' convolutions run on XLA's") == 1
  assert "refused: config.conv is 'onednn', but the oneDNN convolution is not built" in (
      out.stdout)


def test_without_the_library_everything_runs_on_xla(tmp_path):
  """No library (no g++, or not x86-64 Linux): the default is XLA's, said in one line, and a
  run trains and records it."""
  code = f"""
from absl import logging
logging.set_verbosity(logging.INFO)
import json
from gan_lab.native import build
build.LIBRARY = {str(tmp_path / "absent.so")!r}
from gan_lab.core import config as base
from gan_lab.runs import loop
c = base.classifier_config()
c.num_steps, c.log_every, c.batch_size, c.eval_batch_size = 2, 2, 8, 500
loop.train_and_evaluate(c, {str(tmp_path / "run")!r})
print("recorded:", json.load(open({str(tmp_path / "run" / "config.json")!r}))["conv"])
"""
  out = _python(code)
  assert out.returncode == 0, out.stderr[-2000:]
  assert "recorded: xla" in out.stdout
  assert out.stderr.count("the models' convolutions run on XLA's") == 1
  assert "oneDNN convolution is not used" not in out.stderr  # Absent is not stale.


def test_the_kernel_source_ships_in_the_sdist_and_the_wheel(tmp_path):
  """A non-editable install has the .cc to build (python -m gan_lab.native.build)."""
  src = tmp_path / "src"
  shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
      ".git", ".venv", "runs", "tests", "benchmarks", "experiments", "docs", "notebooks",
      "*.so", "*.so.json", "__pycache__", "*.egg-info"))
  dist = tmp_path / "dist"
  code = ("from setuptools import build_meta as b; import sys; d = sys.argv[1]; "
          "names = [b.build_sdist(d), b.build_wheel(d)]; open(d + '/names', 'w').write("
          "' '.join(names))")
  dist.mkdir()
  out = subprocess.run([sys.executable, "-c", code, str(dist)], cwd=src, capture_output=True,
                       text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  sdist, wheel = (dist / name for name in (dist / "names").read_text().split())
  with tarfile.open(sdist) as t:
    assert any(n.endswith("gan_lab/native/dnnl_conv.cc") for n in t.getnames())
  with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
  assert "gan_lab/native/dnnl_conv.cc" in names and "gan_lab/native/build.py" in names
  assert not any(n.endswith(".so") for n in names)  # Built where it is installed.
