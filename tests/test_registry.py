"""Configs name models, datasets, GAN losses, attacks and experiments by registered name or
as "module:attribute" of the user's own code."""

import numpy as np
import pytest

from gan_lab import attacks, data, models
from gan_lab.core.errors import UserError
from gan_lab.core.registry import Registry
from gan_lab.runs import experiments
from gan_lab.training import gan


def test_lookup_by_name_by_import_path_and_refusals(tmp_path, monkeypatch):
  (tmp_path / "my_nets.py").write_text(
      "import flax.linen as nn\n"
      "class Tiny(nn.Module):\n"
      "  num_classes: int = 10\n"
      "  @nn.compact\n"
      "  def __call__(self, x, train=False):\n"
      "    return nn.Dense(self.num_classes)(x.reshape((x.shape[0], -1)))\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  model = models.create("my_nets:Tiny", num_classes=3)
  assert type(model).__name__ == "Tiny" and model.num_classes == 3
  with pytest.raises(UserError, match="Unknown model 'Tiny'; choose one of SeedCNN"):
    models.create("Tiny")
  with pytest.raises(UserError, match="Cannot import model 'no_such_mod:X'.*PYTHONPATH"):
    models.create("no_such_mod:X")
  with pytest.raises(UserError, match="module 'my_nets' has no attribute 'Wide'"):
    models.create("my_nets:Wide")
  with pytest.raises(UserError, match="Unknown dataset 'mnist6k'"):
    data.info("mnist6k")
  with pytest.raises(UserError, match="is a int, not a gan_lab.data.DatasetInfo"):
    data.info("sys:maxsize")
  with pytest.raises(UserError, match="Unknown GAN loss 'wgan'"):
    gan.LOSSES.lookup("wgan")
  with pytest.raises(UserError, match="Unknown experiment 'gann'"):
    experiments.get("gann")
  with pytest.raises(UserError, match="Unknown attack 'cw'"):
    attacks.AttackSpec(attacks=("fgsm", "cw"))


def test_register_adds_once_and_a_dataset_can_load_its_own_arrays():
  reg = Registry("thing", {"a": 1})

  @reg.register("b")
  def b():
    return 2

  assert reg.lookup("b") is b and reg.lookup("a") == 1
  for taken in ("a", "x:y"):
    with pytest.raises(ValueError, match="the name is taken or has a ':'"):
      reg.register(taken, 3)

  rng = np.random.default_rng(0)
  arrays = {"image": rng.integers(0, 256, (6, 4, 4, 1), dtype=np.uint8),
            "label": np.arange(6) % 2}
  info = data.DatasetInfo("toy", (4, 4, 1), 2, ("even", "odd"),
                          load=lambda split, data_dir: arrays)
  data.DATASETS["toy_registry_test"] = info
  try:
    loaded = data.load("toy_registry_test", "train")
    np.testing.assert_array_equal(loaded["image"], arrays["image"])
    assert loaded["label"].dtype == np.int32
    bad = data.DatasetInfo("toy", (4, 4, 1), 1, ("one",), load=lambda split, data_dir: arrays)
    data.DATASETS["toy_registry_bad"] = bad
    with pytest.raises(UserError, match=r"Labels must be in \[0, 0\]"):
      data.load("toy_registry_bad", "test")
  finally:
    data.DATASETS.pop("toy_registry_test")
    data.DATASETS.pop("toy_registry_bad", None)
