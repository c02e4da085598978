"""PNG figures with matplotlib's object API (no pyplot state, no display needed)."""

import math
import zlib

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

# Panels per row of training_curves: at report width (~1000 px) each stays ~330 px wide.
CURVE_COLUMNS = 3
# One colour per attack in every figure ("robust": the per-example worst case over attacks).
ATTACK_COLORS = {"clean": "black", "noise": "tab:green", "fgsm": "tab:blue", "pgd": "tab:red",
                 "robust": "tab:gray", "autoattack": "tab:purple", "apgd-ce": "tab:orange",
                 "apgd-t": "tab:pink", "fab-t": "tab:olive", "square": "tab:cyan"}
_SPARE_COLORS = ("tab:brown", "gold", "navy", "teal", "lime", "maroon")
# One line style and marker per row (model) of a figure, in the rows' order.
_ROW_STYLES = ("-", "--", ":", "-.")
_ROW_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
# "robust" is a wide translucent band under the lines: it often equals the strongest attack,
# which must stay visible.
_BAND = {"linewidth": 7, "alpha": 0.35}


def _save(fig: Figure, path: str) -> str:
  # A constrained layout already fits everything in the figure; "tight" would draw it twice.
  tight = {} if fig.get_layout_engine() else {"bbox_inches": "tight"}
  fig.savefig(path, dpi=100, **tight)
  return path


def training_curves(records: list[dict], path: str) -> str:
  """One panel per metric family (loss, accuracy, ...): train and test lines over steps."""
  names = sorted({k for r in records for k in r if k != "step"})
  families = sorted({n.split("_", 1)[-1] for n in names})
  ncols = min(CURVE_COLUMNS, len(families))
  nrows = math.ceil(len(families) / ncols)
  fig = Figure(figsize=(3.6 * ncols, 2.7 * nrows), layout="constrained")
  for i, family in enumerate(families):
    ax = fig.add_subplot(nrows, ncols, i + 1)
    for name in (n for n in names if n.split("_", 1)[-1] == family):
      pts = [(r["step"], r[name]) for r in records if r.get(name) is not None]
      if pts:
        ax.plot(*zip(*pts), marker="." if len(pts) < 30 else None, label=name)
    ax.set_xlabel("step")
    ax.set_title(family)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
  return _save(fig, path)


def metric_curves(x, series: dict, path: str, xlabel: str, ylabel: str, title: str = "",
                  marker: str | None = "o") -> str:
  """One line per named series of values over the same x (e.g. accuracy vs poison fraction);
  `marker=None` for a dense x, where markers would hide the line."""
  fig = Figure(figsize=(5, 3.5))
  ax = fig.add_subplot(1, 1, 1)
  for name, y in series.items():
    ax.plot(x, np.asarray(y, np.float64), marker=marker, label=name)  # None (NaN): a gap.
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  # Beside the axes, where it hides no data.
  ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
  ax.grid(alpha=0.3)
  return _save(fig, path)


def _attack_colors(names) -> dict:
  """{attack: its colour}: the fixed one of ATTACK_COLORS, or for an attack of one's own a
  spare colour chosen by its name (the next one free, should two of a figure collide)."""
  colors = {n: ATTACK_COLORS[n] for n in names if n in ATTACK_COLORS}
  for name in sorted(set(names) - set(colors)):
    start = zlib.crc32(name.encode())  # Stable across runs, unlike hash().
    order = [_SPARE_COLORS[(start + i) % len(_SPARE_COLORS)] for i in range(len(_SPARE_COLORS))]
    colors[name] = next((c for c in order if c not in colors.values()), order[0])
  return colors


def attack_curves(eps, rows: dict, path: str, ylabel: str, title: str = "") -> str:
  """{row (a model): {attack: values per eps}} against eps: each attack one colour and each
  row one line style and marker, alike in every figure, with the legends beside the axes.

  "robust", the per-example worst case, often equals the strongest attack: it is a wide
  translucent band drawn under the other lines, so both stay visible.
  """
  colors = _attack_colors([a for series in rows.values() for a in series])
  fig = Figure(figsize=(6.5, 3.5), layout="constrained")
  ax = fig.add_subplot(1, 1, 1)
  styles = {}
  for i, (row, series) in enumerate(rows.items()):
    styles[row] = {"linestyle": _ROW_STYLES[i % len(_ROW_STYLES)],
                   "marker": _ROW_MARKERS[i % len(_ROW_MARKERS)]}
    for attack, y in series.items():
      style = ({"linestyle": styles[row]["linestyle"], **_BAND, "zorder": 1}
               if attack == "robust" else {**styles[row], "zorder": 2})
      ax.plot(eps, np.asarray(y, np.float64), color=colors[attack], label=f"{row}, {attack}",
              **style)
  ax.set_xlabel("eps (L-inf)")
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(alpha=0.3)
  attack_handles = [Line2D([], [], color=c, **(_BAND if a == "robust" else {}))
                    for a, c in colors.items()]
  fig.legend(attack_handles, list(colors), title="attack", loc="outside right upper",
             fontsize=8)
  if len(rows) > 1:
    fig.legend([Line2D([], [], color="0.3", **s) for s in styles.values()], list(styles),
               title="model", loc="outside right lower", fontsize=8)
  return _save(fig, path)


def _scaled_each(images: np.ndarray) -> np.ndarray:
  """Each image [N, ...] mapped to [0, 1] by its own smallest and largest value."""
  axes = tuple(range(1, images.ndim))
  low, high = images.min(axes, keepdims=True), images.max(axes, keepdims=True)
  return (images - low) / np.maximum(high - low, 1e-12)


def _mosaic(images: np.ndarray, ncols: int, gap: int, top: int) -> tuple[np.ndarray, list]:
  """Images [N, H, W, C] tiled `ncols` to a row, `gap` pixels apart and `top` free pixels
  above each row (for captions), NaN (shown blank) between them; and each tile's (x, y)
  top-centre, where its caption goes."""
  n, h, w, c = images.shape
  nrows = math.ceil(n / ncols)
  canvas = np.full((nrows * (h + top + gap) - gap, ncols * (w + gap) - gap, c), np.nan,
                   np.float32)
  anchors = []
  for i, img in enumerate(images):
    y, x = (i // ncols) * (h + top + gap) + top, (i % ncols) * (w + gap)
    canvas[y:y + h, x:x + w] = img
    anchors.append((x + (w - 1) / 2, y - 0.5))
  return canvas, anchors


def _show_tiles(ax, images: np.ndarray, ncols: int, cmap: str, titles=None):
  """`images` (values in [0, 1]) in one `imshow` on `ax`: one artist however many there are,
  which keeps a 64-image grid as quick to draw as one image."""
  h = images.shape[1]
  canvas, anchors = _mosaic(images, ncols, gap=max(1, h // 12),
                            top=math.ceil(0.3 * h) if titles else 0)
  if canvas.shape[-1] == 1:
    shown = ax.imshow(canvas[..., 0], cmap=matplotlib.colormaps[cmap].with_extremes(
        bad="white"), vmin=0, vmax=1, interpolation="nearest")
  else:  # RGB: blank is white.
    shown = ax.imshow(np.nan_to_num(canvas, nan=1.0), interpolation="nearest")
  for caption, (x, y) in zip(titles or (), anchors):
    ax.text(x, y, caption, ha="center", va="bottom", fontsize=7)
  ax.set_axis_off()
  return shown


def image_grid(images: np.ndarray, path: str, *, titles=None, ncols: int | None = None,
               cmap: str = "gray", normalize_each: bool = False, title: str = "",
               colorbar: str = "") -> str:
  """Images [N, H, W, C] (C = 1 or 3, values in [0, 1] unless `normalize_each`) in a grid,
  under `title`, with a colour bar labelled `colorbar` if given (single-channel images)."""
  images = np.asarray(images, np.float32)
  n = len(images)
  ncols = ncols or math.ceil(math.sqrt(n))
  nrows = math.ceil(n / ncols)
  images = np.clip(_scaled_each(images) if normalize_each else images, 0.0, 1.0)
  fig = Figure(figsize=(1.3 * ncols + (1.0 if colorbar else 0),
                        1.3 * nrows + (0.2 * nrows if titles else 0) + (0.4 if title else 0)),
               layout="constrained")
  ax = fig.add_subplot(1, 1, 1)
  shown = _show_tiles(ax, images, ncols, cmap, titles)
  if title:
    fig.suptitle(title)
  if colorbar:
    fig.colorbar(shown, ax=ax, label=colorbar, shrink=0.8)
  return _save(fig, path)


def first_layer_filters(kernel: np.ndarray, path: str, input_shape) -> str:
  """A conv kernel [kh, kw, cin, cout] or a dense kernel [H*W*C, units] as small images,
  each filter scaled to its own range (the colour bar says so)."""
  kernel = np.asarray(kernel)
  if kernel.ndim == 2:  # Dense on flattened pixels: each unit's weights form an image.
    filters = kernel.T.reshape(-1, *input_shape)[:64]
    what = (f"first-layer weights of {len(filters)} of {kernel.shape[1]} dense units, "
            "as images")
  else:
    filters = np.moveaxis(kernel, -1, 0)
    what = f"the {len(filters)} first-layer filters, {kernel.shape[0]}x{kernel.shape[1]}"
    if filters.shape[-1] not in (1, 3):
      filters = filters[..., :1]
      what += f" (input channel 0 of {kernel.shape[2]})"
  titles = [str(i) for i in range(len(filters))]
  single = filters.shape[-1] == 1
  return image_grid(filters, path, titles=titles, normalize_each=True,
                    cmap="viridis" if single else "gray", title=what,
                    colorbar="weight, scaled per filter:\n0 = its smallest, 1 = its largest"
                    if single else "")


def feature_maps(image: np.ndarray, maps: np.ndarray, path: str, title: str = "") -> str:
  """An input image [H, W, C] beside every one of a layer's activations [h, w, channels]
  for it, each map on its own colour scale."""
  maps = np.moveaxis(np.asarray(maps, np.float32), -1, 0)[..., None]  # [channels, h, w, 1]
  ncols = min(8, len(maps))
  nrows = math.ceil(len(maps) / ncols)
  fig = Figure(figsize=(1.25 * (ncols + 2), 1.3 * nrows + 0.5), layout="constrained")
  grid = fig.add_gridspec(nrows, ncols + 2)
  ax = fig.add_subplot(grid[:min(nrows, 2), :2])  # The input, larger, at the top left.
  image = np.clip(np.asarray(image, np.float32), 0, 1)
  ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
  ax.set_title("input", fontsize=8)
  ax.set_axis_off()
  _show_tiles(fig.add_subplot(grid[:, 2:]), _scaled_each(maps), ncols, "viridis",
              [str(i) for i in range(len(maps))])
  fig.suptitle(f"{title + ': ' if title else ''}the {len(maps)} feature maps of one input "
               "(each on its own colour scale)")
  return _save(fig, path)


def adversarial_examples(x: np.ndarray, x_adv: np.ndarray, clean_titles, adv_titles,
                         path: str, *, title: str) -> str:
  """The lecture's panda figure, one row per image: original | perturbation | adversarial,
  under `title` (which attack, at which eps, targeted or not).

  The perturbation is rescaled to the full grey range (mid-grey = 0) to be visible.
  """
  x, x_adv = np.asarray(x, np.float32), np.asarray(x_adv, np.float32)
  delta = x_adv - x
  scale = max(float(np.abs(delta).max()), 1e-12)
  fig = Figure(figsize=(6, 2.1 * len(x) + 0.4), layout="constrained")
  for i in range(len(x)):
    for j, (img, caption) in enumerate([
        (x[i], f"original: {clean_titles[i]}"),
        (0.5 + 0.5 * delta[i] / scale, f"perturbation (max {scale:.3g})"),
        (x_adv[i], f"adversarial: {adv_titles[i]}")]):
      ax = fig.add_subplot(len(x), 3, 3 * i + j + 1)
      img = np.clip(img, 0.0, 1.0)
      ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
      ax.set_title(caption, fontsize=8)
      ax.set_axis_off()
  fig.suptitle(title)
  return _save(fig, path)
