"""notebooks/quickstart.ipynb runs top to bottom, as a user would run it."""

import os
import re

import nbclient
import nbformat

from conftest import REPO


def test_quickstart_notebook_runs_top_to_bottom(tmp_path):
  notebook = nbformat.read(os.path.join(REPO, "notebooks", "quickstart.ipynb"), as_version=4)
  nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                          resources={"metadata": {"path": str(tmp_path)}}).execute()
  text = "\n".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for o in cell.outputs)
  clean, adversarial = map(float, re.search(
      r"test accuracy ([\d.]+) clean, ([\d.]+) under FGSM at eps 0.1", text).groups())
  assert clean > 0.6 and adversarial < clean  # 150 steps learn; FGSM hurts.
  assert "largest pixel change: 0.100" in text
  assert "(16, 28, 28, 1) float32" in text
  images = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs
            if "image/png" in o.get("data", {})]
  assert len(images) == 3
