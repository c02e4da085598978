"""docs/extending.md's examples run as written: every python block, in order, in one process."""

import glob
import os
import re
import subprocess
import sys

from conftest import REPO
from gan_lab.core import config as config_lib


def test_extending_guide_examples_run(tmp_path):
  with open(os.path.join(REPO, "docs", "extending.md")) as f:
    blocks = re.findall(r"^```python\n(.*?)^```", f.read(), re.S | re.M)
  assert len(blocks) == 5  # A model, a dataset, a GAN loss, an attack, an experiment.
  script = tmp_path / "extending.py"
  script.write_text("\n\n".join(blocks))
  out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=600, cwd=tmp_path)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "TinyCNN parameters: 7890" in out.stdout, out.stdout  # 3*3*1*4 + 4 + 784*10 + 10.
  assert "noisy_mnist5k training images: 4000" in out.stdout
  clean, fgsm, l2 = map(float, re.search(
      r"eps 0.1: clean ([\d.]+), FGSM ([\d.]+), FGSM-L2 ([\d.]+)", out.stdout).groups())
  assert fgsm < clean and l2 < clean
  assert "shifted run files: ['config.json']" in out.stdout


def _commands(text):
  """Every `python experiments/<script>.py ...` command in `text`, continuation lines joined."""
  text = re.sub(r"\\\n\s*", "", text)
  return [line.split("python ", 1)[1].split() for line in text.splitlines()
          if re.search(r"python experiments/\w+\.py", line)]


def _config(path_and_arg):
  path, _, arg = path_and_arg.partition(":")
  return config_lib.from_file(os.path.join(REPO, path), *([arg] if arg else []))


def test_documented_commands_match_the_scripts_flags_and_config_fields():
  """Docs against the CLI: each command in the README, docs/ and the scripts' and configs'
  docstrings names a script that exists, flags it defines, config files that exist and
  config fields they have (a wrong one would fail the user's first try)."""
  sources = [os.path.join(REPO, "README.md"),
             *glob.glob(os.path.join(REPO, "docs", "*.md")),
             *glob.glob(os.path.join(REPO, "experiments", "*.py")),
             *glob.glob(os.path.join(REPO, "experiments", "configs", "*.py"))]
  checked = 0
  for source in sources:
    with open(source) as f:
      commands = _commands(f.read())
    for script, *args in commands:
      where = f"{os.path.relpath(source, REPO)}: {script} {' '.join(args)}"
      assert os.path.exists(os.path.join(REPO, script)), where
      with open(os.path.join(REPO, script)) as f:
        defined = set(re.findall(r'DEFINE_\w+\(\s*"(\w+)"', f.read()))
      flags = dict(a[2:].partition("=")[::2] for a in args if a.startswith("--"))
      configs = {name: _config(value) for name, value in flags.items()
                 if name in defined and value.startswith("experiments/configs/")}
      for name in flags:
        flag, _, field = name.partition(".")
        flag = flag[2:] if flag.startswith("no") and flag[2:] in defined else flag
        assert flag in defined, f"{where}: {script} has no flag --{flag}"
        if field and flag in configs:
          node = configs[flag]
          for part in field.split("."):
            assert part in node, f"{where}: the config has no field {field}"
            node = node[part]
      checked += 1
  assert checked >= 40, checked  # The README alone shows more than 30.
