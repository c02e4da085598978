"""PNG figures with matplotlib's object API (no pyplot state, no display needed)."""

import math

import numpy as np
from matplotlib.figure import Figure


def _save(fig: Figure, path: str) -> str:
  fig.savefig(path, dpi=100, bbox_inches="tight")
  return path


def training_curves(records: list[dict], path: str) -> str:
  """One panel per metric family (loss, accuracy, ...): train and test lines over steps."""
  names = sorted({k for r in records for k in r if k != "step"})
  families = sorted({n.split("_", 1)[-1] for n in names})
  fig = Figure(figsize=(4 * len(families), 3.2))
  for i, family in enumerate(families):
    ax = fig.add_subplot(1, len(families), i + 1)
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
  ax.legend(fontsize=8)
  ax.grid(alpha=0.3)
  return _save(fig, path)


def image_grid(images: np.ndarray, path: str, *, titles=None, ncols: int | None = None,
               cmap: str = "gray", normalize_each: bool = False) -> str:
  """Images [N, H, W, C] (C = 1 or 3, values in [0, 1] unless `normalize_each`) in a grid."""
  images = np.asarray(images, np.float32)
  n = len(images)
  ncols = ncols or math.ceil(math.sqrt(n))
  nrows = math.ceil(n / ncols)
  fig = Figure(figsize=(1.3 * ncols, 1.3 * nrows + (0.2 * nrows if titles else 0)))
  for i in range(n):
    ax = fig.add_subplot(nrows, ncols, i + 1)
    img = images[i]
    if normalize_each:
      img = (img - img.min()) / max(float(img.max() - img.min()), 1e-12)
    img = np.clip(img, 0.0, 1.0)
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap=cmap, vmin=0, vmax=1)
    ax.set_axis_off()
    if titles:
      ax.set_title(titles[i], fontsize=7)
  return _save(fig, path)


def first_layer_filters(kernel: np.ndarray, path: str, input_shape) -> str:
  """A conv kernel [kh, kw, cin, cout] or a dense kernel [H*W*C, units] as small images."""
  kernel = np.asarray(kernel)
  if kernel.ndim == 2:  # Dense on flattened pixels: each unit's weights form an image.
    filters = kernel.T.reshape(-1, *input_shape)[:64]
  else:
    filters = np.moveaxis(kernel, -1, 0)
    if filters.shape[-1] not in (1, 3):
      filters = filters[..., :1]
  titles = [str(i) for i in range(len(filters))]
  return image_grid(filters, path, titles=titles, normalize_each=True,
                    cmap="viridis" if filters.shape[-1] == 1 else "gray")


def feature_maps(image: np.ndarray, maps: np.ndarray, path: str, title: str = "") -> str:
  """An input image [H, W, C] beside one layer's activations [h, w, channels] for it."""
  maps = np.moveaxis(np.asarray(maps, np.float32), -1, 0)[:31]  # [channels, h, w]
  fig = Figure(figsize=(10, 1.4 * (1 + len(maps) // 8)))
  ax = fig.add_subplot(1 + len(maps) // 8, 8, 1)
  image = np.clip(np.asarray(image, np.float32), 0, 1)
  ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
  ax.set_title("input", fontsize=7)
  ax.set_axis_off()
  for i, m in enumerate(maps):
    ax = fig.add_subplot(1 + len(maps) // 8, 8, i + 2)
    ax.imshow(m, cmap="viridis")
    ax.set_title(f"{title} {i}", fontsize=7)
    ax.set_axis_off()
  return _save(fig, path)


def adversarial_examples(x: np.ndarray, x_adv: np.ndarray, clean_titles, adv_titles,
                         path: str) -> str:
  """The lecture's panda figure, one row per image: original | perturbation | adversarial.

  The perturbation is rescaled to the full grey range (mid-grey = 0) to be visible.
  """
  x, x_adv = np.asarray(x, np.float32), np.asarray(x_adv, np.float32)
  delta = x_adv - x
  scale = max(float(np.abs(delta).max()), 1e-12)
  fig = Figure(figsize=(6, 2.1 * len(x)))
  for i in range(len(x)):
    for j, (img, title) in enumerate([
        (x[i], f"original: {clean_titles[i]}"),
        (0.5 + 0.5 * delta[i] / scale, f"perturbation (max {scale:.3g})"),
        (x_adv[i], f"adversarial: {adv_titles[i]}")]):
      ax = fig.add_subplot(len(x), 3, 3 * i + j + 1)
      img = np.clip(img, 0.0, 1.0)
      ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
      ax.set_title(title, fontsize=8)
      ax.set_axis_off()
  return _save(fig, path)
