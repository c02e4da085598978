"""Figures read well: a readable shape at report width, one colour per attack and one line
style per model, legends beside the data, titles and colour bars that say what is shown."""

import pytest
from matplotlib.figure import Figure
from PIL import Image

from gan_lab import viz


@pytest.fixture
def saved(monkeypatch):
  """{path: the Figure saved there} of every figure saved while the test runs."""
  figures = {}
  savefig = Figure.savefig

  def record(fig, path, **kwargs):
    figures[str(path)] = fig
    return savefig(fig, path, **kwargs)

  monkeypatch.setattr(Figure, "savefig", record)
  return figures


@pytest.mark.parametrize("families", [10, 8])  # The GAN's and the adversarial run's curves.
def test_training_curves_stay_readable_at_report_width(tmp_path, saved, families):
  records = [{"step": s, **{f"{split}_metric{i}": float(s * i) for i in range(families)
                            for split in ("train", "test")}} for s in (10, 20, 30)]
  path = viz.training_curves(records, str(tmp_path / "curves.png"))
  width, height = Image.open(path).size
  assert 0.5 < width / height < 2.0 and width < 1300, (width, height)
  fig = saved[path]
  assert len(fig.axes) == families
  assert max(ax.get_subplotspec().get_gridspec().ncols for ax in fig.axes) <= viz.CURVE_COLUMNS
