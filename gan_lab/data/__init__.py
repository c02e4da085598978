"""Datasets as numpy arrays: `load(name, split)` -> {"image": uint8 NHWC, "label": int32}.

`mnist5k` is embedded and offline (see `mnist5k.py`), and so is `stacked_mnist5k`, three of
its digits as the channels of one image (see `stacked_mnist.py`); with many processes, process 0
prepares it in `data_dir` and the others wait for it, then read it there. The TFDS catalog
datasets are read with `tfds.data_source` from a `data_dir` where they were prepared beforehand
in the `array_record` format (preparing them needs TensorFlow and internet; training does not).
"""

import dataclasses
import functools
import os
from typing import Callable

import jax
from jax.experimental import multihost_utils
import numpy as np
import tensorflow_datasets as tfds

from gan_lab.core.errors import UserError
from gan_lab.core.registry import Registry
from gan_lab.data import mnist5k, stacked_mnist


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """A dataset's shape and classes; `load`, when set, reads a split of one's own data.

  `load(split, data_dir) -> {"image": uint8 NHWC, "label": int}`; without it, the name is
  read from TFDS. `channels_of`, when set, names the dataset whose images this one stacks as
  its channels (its label their classes as a base-K number), so a classifier of that dataset
  judges its GAN samples channel by channel.
  """
  name: str
  image_shape: tuple[int, int, int]
  num_classes: int
  class_names: tuple[str, ...]
  load: Callable[[str, str], dict] | None = None
  channels_of: str | None = None


_DIGITS = tuple(str(i) for i in range(10))
# `config.dataset` names one of these, one added with `DATASETS.register`, or a DatasetInfo
# of the user's own code as "package.module:attribute" (docs/extending.md).
DATASETS = Registry("dataset", {
    "mnist5k": DatasetInfo("mnist5k", (28, 28, 1), 10, _DIGITS),
    "mnist": DatasetInfo("mnist", (28, 28, 1), 10, _DIGITS),
    "fashion_mnist": DatasetInfo("fashion_mnist", (28, 28, 1), 10, (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
    "cifar10": DatasetInfo("cifar10", (32, 32, 3), 10, (
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck")),
    "svhn_cropped": DatasetInfo("svhn_cropped", (32, 32, 3), 10, _DIGITS),
    "stacked_mnist5k": DatasetInfo(
        "stacked_mnist5k", (28, 28, stacked_mnist.NUM_CHANNELS), stacked_mnist.NUM_MODES,
        stacked_mnist.CLASS_NAMES, channels_of="mnist5k",
        load=lambda split, data_dir: stacked_mnist.stack(load("mnist5k", split, data_dir),
                                                         split)),
})
SPLITS = ("train", "test")


def info(name: str) -> DatasetInfo:
  return DATASETS.lookup(name, DatasetInfo)


def default_data_dir() -> str:
  return os.environ.get("TFDS_DATA_DIR", os.path.expanduser("~/tensorflow_datasets"))


def load(name: str, split: str, data_dir: str | None = None) -> dict[str, np.ndarray]:
  """Returns the whole split as {"image": uint8 [N, H, W, C], "label": int32 [N]}.

  `data_dir`, when given, must exist; the default one is created when first needed.
  """
  ds_info = info(name)
  if split not in SPLITS:
    raise UserError(f"Unknown split {split!r}; choose one of {', '.join(SPLITS)}.")
  if data_dir and not os.path.isdir(data_dir):  # A typo must not become a new folder.
    raise UserError(f"data_dir {data_dir} does not exist; create it, or pass the folder where "
                    "the datasets are (--config.data_dir; '' means $TFDS_DATA_DIR or "
                    "~/tensorflow_datasets).")
  data_dir = data_dir or default_data_dir()
  if ds_info.load is not None:
    arrays = ds_info.load(split, data_dir)
    validate(arrays, ds_info.image_shape, ds_info.num_classes)
    return {"image": np.asarray(arrays["image"]), "label": np.asarray(arrays["label"], np.int32)}
  if ds_info.name == "mnist5k":
    # A copy, so a caller that changes its arrays (poisoning) leaves the next one's alone.
    return {k: v.copy() for k, v in _embedded_arrays(split, data_dir).items()}
  arrays = _read(_catalog_source(ds_info.name, split, data_dir))
  validate(arrays, ds_info.image_shape, ds_info.num_classes)
  return arrays


def _read(source) -> dict[str, np.ndarray]:
  # Item access (not __getitems__) also works on tfds.testing.mock_data sources.
  examples = [source[i] for i in range(len(source))]
  return {"image": np.stack([np.asarray(e["image"]) for e in examples]),
          "label": np.asarray([e["label"] for e in examples], np.int32)}


@functools.lru_cache(maxsize=4)
def _embedded_arrays(split: str, data_dir: str) -> dict[str, np.ndarray]:
  """The embedded split, decoded once per process: a tour or a test run loads it dozens of
  times (0.25-0.5 s each), and it cannot change under a process (its version pins it)."""
  arrays = _read(_embedded_source(split, data_dir))
  validate(arrays, info("mnist5k").image_shape, info("mnist5k").num_classes)
  return arrays


def validate(arrays, image_shape, num_classes: int) -> None:
  """Checks images and labels; raises UserError with one sentence naming the problem."""
  images, labels = arrays.get("image"), arrays.get("label")
  if images is None or labels is None:
    raise UserError(f"Data must be a dict with 'image' and 'label'; got keys {sorted(arrays)}.")
  images, labels = np.asarray(images), np.asarray(labels)
  if images.dtype != np.uint8:
    raise UserError(f"Images must be uint8 in [0, 255]; got dtype {images.dtype}.")
  if images.ndim != 4 or tuple(images.shape[1:]) != tuple(image_shape):
    raise UserError(
        f"Images must have shape [N, {', '.join(map(str, image_shape))}] (NHWC); "
        f"got {list(images.shape)}.")
  if labels.shape != (images.shape[0],):
    raise UserError(
        f"Labels must have shape [{images.shape[0]}] to match the images; got {list(labels.shape)}.")
  if not np.issubdtype(labels.dtype, np.integer):
    raise UserError(f"Labels must be integers; got dtype {labels.dtype}.")
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise UserError(
        f"Labels must be in [0, {num_classes - 1}]; got values from {labels.min()} to {labels.max()}.")


def labeled_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
  """Sorted indices of `per_class` examples of every class, drawn with `seed` (balanced).

  The semi-supervised split: these keep their labels, every example is usable unlabelled.
  """
  counts = np.bincount(labels)
  if not 1 <= per_class <= counts.min():
    raise UserError(f"Cannot take {per_class} labels per class: the smallest class has "
                    f"{counts.min()} training examples; ask for 1 to {counts.min()}.")
  rng = np.random.default_rng([seed, 10**9 + 1])  # Apart from the batch order streams.
  return np.sort(np.concatenate([
      rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
      for c in range(len(counts))]))


def _embedded_source(split: str, data_dir: str):
  # Every process checks the file (cheap): a wrong install then fails everywhere at once
  # instead of leaving the other processes waiting for process 0.
  mnist5k.read_csv()
  many = jax.process_count() > 1
  if many and jax.process_index() != 0:
    _wait_for_process_0(_PREPARED)
    # Opened after the wait: a builder reads what is prepared when it is constructed.
    builder = mnist5k.Mnist5k(data_dir=data_dir, file_format="array_record")
    if not builder.is_prepared():
      raise UserError(
          f"Process {jax.process_index()} does not find the embedded dataset in data_dir "
          f"{data_dir!r} after waiting for process 0 to prepare it; data_dir must be a "
          "directory every process sees (or the dataset prepared beforehand on each host), so "
          "pass such a --config.data_dir or set TFDS_DATA_DIR.")
    return builder.as_data_source(split)
  builder = mnist5k.Mnist5k(data_dir=data_dir, file_format="array_record")
  try:
    builder.download_and_prepare()  # Once per data_dir; a no-op afterwards.
  except OSError as e:
    raise UserError(
        f"Cannot write the embedded dataset to data_dir {data_dir!r} ({e.strerror or e}); "
        "pass a writable --config.data_dir or set TFDS_DATA_DIR.") from e
  finally:
    if many:
      # Also when preparing failed, so the others stop waiting and report it too.
      _wait_for_process_0(_PREPARED)
  return builder.as_data_source(split)


# One name on every process: sync_global_devices checks that the names match.
_PREPARED = f"gan_lab.data: mnist5k {mnist5k.Mnist5k.VERSION} prepared by process 0"


def _wait_for_process_0(name: str) -> None:
  """Returns once every process called it with `name` (process 0 after preparing)."""
  multihost_utils.sync_global_devices(name)


def _catalog_source(name: str, split: str, data_dir: str):
  try:
    return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
  except Exception as e:  # pylint: disable=broad-except
    # TFDS reports a missing or tfrecord-format dataset with various exception types.
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
      raise UserError(
          f"TFDS dataset {name!r} is not prepared in {data_dir} and cannot be downloaded "
          "offline; on a machine with internet run `pip install -e '.[tfds-prepare]' && "
          f"tfds build {name} --file_format=array_record --data_dir={data_dir}` in this "
          "repository, or use the embedded dataset mnist5k.") from e
    if builder.info.file_format not in tfds.core.FileFormat.with_random_access():
      raise UserError(
          f"TFDS dataset {name!r} in {data_dir} is prepared as {builder.info.file_format}, "
          "which has no random access; convert it with `tfds convert_format "
          f"--root_data_dir={data_dir} --out_file_format=array_record`.") from e
    raise UserError(f"Cannot read TFDS dataset {name!r} from {data_dir}: {e}") from e
