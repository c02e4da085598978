"""docs/extending.md's examples run as written: every python block, in order, in one process."""

import os
import re
import subprocess
import sys

from conftest import REPO


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
