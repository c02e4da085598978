"""Figures read well: a readable shape at report width, one colour per attack and one line
style per model, legends beside the data, titles and colour bars that say what is shown."""

import os

import numpy as np
import pytest
from matplotlib import colors
from matplotlib.figure import Figure
from PIL import Image

from gan_lab import attacks, viz
from gan_lab.runs import workdirs
from gan_lab.studies import robustness


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


def _style(line) -> tuple:
  return colors.to_rgba(line.get_color()), line.get_linestyle()


def _lines(fig) -> dict:
  """{label: Line2D} of the data lines of a one-axes figure."""
  (ax,) = fig.axes
  return {line.get_label(): line for line in ax.get_lines()}


def _outside_the_axes(fig) -> bool:
  """Whether every legend of the figure lies clear of its axes."""
  fig.draw_without_rendering()
  legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
  return bool(legends) and not any(
      legend.get_window_extent().overlaps(ax.get_window_extent())
      for legend in legends for ax in fig.axes)


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


def _rows(names, attack_names):
  eps = [0.0, 0.1, 0.2]
  return {name: [{"eps": e, **{f"accuracy_{a}": 0.9 - k * e * (j + 1) for j, a in
                               enumerate(attack_names)}} for e in eps]
          for k, name in enumerate(names, 1)}


def test_each_attack_has_one_colour_and_each_model_one_line_style(tmp_path, saved):
  names = ("clean", *attacks.DEFAULT_ATTACKS)
  path = robustness.plot_rows(_rows(["normal", "FGSM-trained", "PGD-trained"], names),
                              "accuracy", names, str(tmp_path / "a.png"), "by model")
  lines = _lines(saved[path])
  assert len(lines) == 12 and len({_style(line) for line in lines.values()}) == 12
  for model in ("normal", "FGSM-trained", "PGD-trained"):  # One style per model...
    assert len({lines[f"{model}, {a}"].get_linestyle() for a in names}) == 1
  for a in names:  # ... and one colour per attack.
    assert len({_style(lines[f"{m}, {a}"])[0] for m in ("normal", "PGD-trained")}) == 1
  assert _outside_the_axes(saved[path])

  # Another figure, other models and attacks in another order: the same colours.
  other = robustness.plot_rows(_rows(["white-box", "MLP"], ("pgd", "fgsm")), "accuracy",
                               ("pgd", "fgsm"), str(tmp_path / "b.png"), "transfer")
  for a in ("pgd", "fgsm"):
    assert _style(_lines(saved[other])[f"MLP, {a}"])[0] == _style(lines[f"normal, {a}"])[0]


def test_an_attack_of_ones_own_gets_a_colour_of_its_own(tmp_path, saved):
  names = ("fgsm", "pgd", "mine", "yours")
  path = robustness.plot_rows(_rows(["normal"], names), "accuracy", names,
                              str(tmp_path / "a.png"), "")
  assert len({_style(line)[0] for line in _lines(saved[path]).values()}) == 4


def test_attack_figures_panda_titles_and_targeted_success(classifier_run, tmp_path, saved):
  workdir, _ = classifier_run
  eps = [0.0, 0.2]
  for spec, kind in ((attacks.AttackSpec(pgd_steps=2), "untargeted"),
                     (attacks.AttackSpec(attacks=("fgsm", "pgd"), pgd_steps=2, targeted=True,
                                         target_class=3), "targeted at class 3")):
    out = robustness.attack_workdir(workdir, eps, spec, out=str(tmp_path / kind), seed=0)
    results = workdirs.read_json(os.path.join(out, robustness.RESULTS_FILE))
    assert saved[os.path.join(out, "panda.png")].get_suptitle() == f"pgd at eps 0.2, {kind}"
    fig = saved[os.path.join(out, "accuracy_vs_eps.png")]
    lines = {label.split(", ")[1]: line for label, line in _lines(fig).items()}
    assert _outside_the_axes(fig)
    if spec.targeted:  # The share sent to class 3, not the accuracy.
      assert fig.axes[0].get_ylabel() == "targeted success rate"
      assert set(lines) == {"fgsm", "pgd"}
      for a, line in lines.items():
        np.testing.assert_allclose(line.get_ydata(),
                                   [r[f"success_{a}"] for r in results["results"]])
    else:  # The worst case often equals PGD: a band under it, so both show.
      assert set(lines) == {"clean", "noise", "fgsm", "pgd", "robust"}
      robust, pgd = lines["robust"], lines["pgd"]
      assert robust.get_zorder() < pgd.get_zorder()
      assert robust.get_linewidth() > 2 * pgd.get_linewidth() and robust.get_alpha() < 1


def test_filters_have_a_title_and_a_colour_bar(tmp_path, saved):
  kernel = np.random.default_rng(0).normal(size=(3, 3, 1, 8))
  path = viz.first_layer_filters(kernel, str(tmp_path / "filters.png"), (28, 28, 1))
  fig = saved[path]
  assert fig.get_suptitle() == "the 8 first-layer filters, 3x3"
  (bar,) = [ax for ax in fig.axes if "scaled per filter" in ax.get_ylabel()]
  assert bar.get_ylim() == (0.0, 1.0)


def test_feature_maps_show_every_channel(tmp_path, saved):
  maps = np.random.default_rng(0).normal(size=(26, 26, 32)).astype(np.float32)
  path = viz.feature_maps(np.zeros((28, 28, 1)), maps, str(tmp_path / "maps.png"), "conv1")
  fig = saved[path]
  _, mosaic = [np.ma.filled(ax.images[0].get_array(), np.nan) for ax in fig.axes if ax.images]
  assert np.isfinite(mosaic).sum() == maps.size  # Every map once, the rest blank.
  windows = np.lib.stride_tricks.sliding_window_view(mosaic, (26, 26))
  for i in (0, 31):  # Each map is a tile of its own, on its own colour scale.
    scaled = (maps[..., i] - maps[..., i].min()) / np.ptp(maps[..., i])
    assert np.isclose(windows, scaled, rtol=0, atol=1e-6).all((-2, -1)).sum() == 1
  assert [t.get_text() for ax in fig.axes for t in ax.texts] == [str(i) for i in range(32)]
  assert "32 feature maps" in fig.get_suptitle()


def test_an_image_grid_tiles_every_image_in_order(tmp_path, saved):
  images = np.random.default_rng(1).random((7, 5, 4, 1)).astype(np.float32)
  path = viz.image_grid(images, str(tmp_path / "g.png"), ncols=3, titles=list("abcdefg"))
  (ax,) = saved[path].axes
  mosaic = np.ma.filled(ax.images[0].get_array(), np.nan)
  assert np.isfinite(mosaic).sum() == images.size
  windows = np.lib.stride_tricks.sliding_window_view(mosaic, (5, 4))
  where = [tuple(np.argwhere((windows == img[..., 0]).all((-2, -1)))[0]) for img in images]
  rows, cols = zip(*where)
  assert len(set(rows)) == 3 and len(set(cols)) == 3  # 3 to a row: rows of 3, 3 and 1.
  assert sorted(where) == where  # In reading order.
  assert [t.get_text() for t in ax.texts] == list("abcdefg")
