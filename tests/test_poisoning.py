"""Data poisoning: exactly which examples change and how, the attack metrics by hand, bad
settings refused before anything is written, and a sweep of tiny runs end to end."""

import json
import os

import numpy as np
import pytest

from conftest import run_script, tiny_config
from gan_lab import data, inference, poisoning
from gan_lab.core.config import poison_config
from gan_lab.core.errors import UserError
from gan_lab.runs import loop, restore, writers
from gan_lab.studies import poison_sweep

K = 10


@pytest.fixture(scope="module")
def train():
  """200 images below 255 (so a trigger patch is unmistakable), 20 of each class."""
  rng = np.random.default_rng(0)
  return {"image": rng.integers(0, 255, (200, 28, 28, 1), dtype=np.uint8),
          "label": np.arange(200, dtype=np.int32) % K}


def _settings(**overrides):
  p = poison_config().poison
  p.update(overrides)
  return p


def _tiny(**poison):
  return tiny_config(experiment="poisoned", poison=_settings(**poison))


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.37, 1.0])
def test_random_flip_gives_the_fraction_other_labels(train, fraction):
  out, indices = poisoning.poison(train, _settings(kind="random_flip", fraction=fraction), K, 0)
  changed = np.flatnonzero(out["label"] != train["label"])
  assert len(changed) == round(fraction * 200)
  np.testing.assert_array_equal(changed, indices)
  np.testing.assert_array_equal(out["image"], train["image"])
  assert out["label"].dtype == np.int32 and out["label"].min() >= 0 and out["label"].max() < K
  if fraction == 1.0:  # Every other class is drawn, for the examples of every class.
    assert set((out["label"] - train["label"]) % K) == set(range(1, K))


def test_class_flip_relabels_only_source_examples_as_the_target(train):
  out, indices = poisoning.poison(
      train, _settings(kind="class_flip", fraction=0.25, source_class=7, target_class=1), K, 0)
  changed = np.flatnonzero(out["label"] != train["label"])
  np.testing.assert_array_equal(changed, indices)
  assert len(changed) == 5  # A quarter of the 20 sevens.
  assert np.all(train["label"][changed] == 7) and np.all(out["label"][changed] == 1)
  np.testing.assert_array_equal(out["image"], train["image"])


def test_backdoor_stamps_the_trigger_and_the_target_label(train):
  original = {k: v.copy() for k, v in train.items()}
  out, indices = poisoning.poison(
      train, _settings(kind="backdoor", fraction=0.1, target_class=1, patch_size=3), K, 0)
  assert len(indices) == 18  # A tenth of the 180 examples of the other classes.
  assert np.all(train["label"][indices] != 1) and np.all(out["label"][indices] == 1)
  patch = np.zeros((28, 28, 1), bool)
  patch[-3:, -3:] = True
  stamped, originals = out["image"][indices], train["image"][indices]
  assert np.all(stamped[:, patch] == 255)
  np.testing.assert_array_equal(stamped[:, ~patch], originals[:, ~patch])
  others = np.setdiff1d(np.arange(200), indices)
  np.testing.assert_array_equal(out["image"][others], train["image"][others])
  np.testing.assert_array_equal(out["label"][others], train["label"][others])
  for k in original:  # The caller's arrays are left as they were.
    np.testing.assert_array_equal(train[k], original[k])


def test_selection_is_deterministic_in_the_seed_and_nested_over_fractions(train):
  pick = lambda fraction, seed: poisoning.poison(
      train, _settings(kind="random_flip", fraction=fraction), K, seed)
  (a, ia), (b, ib) = pick(0.2, 0), pick(0.2, 0)
  np.testing.assert_array_equal(ia, ib)
  np.testing.assert_array_equal(a["label"], b["label"])
  assert not np.array_equal(ia, pick(0.2, 1)[1])
  small, ismall = pick(0.05, 0)
  assert set(ismall) < set(ia)
  np.testing.assert_array_equal(small["label"][ismall], a["label"][ismall])


def test_attack_metrics_by_hand():
  labels = np.array([0, 0, 1, 1, 2, 2, 7, 7, 7, 7])
  predictions = np.array([0, 1, 1, 0, 2, 2, 7, 1, 1, 3])
  flip = poisoning.attack_metrics(_settings(kind="class_flip", source_class=7, target_class=1),
                                  labels, predictions)
  assert flip == {"target_class_accuracy": 0.25, "attack_success": 0.5}
  triggered = np.array([1, 1, 0, 0, 1, 2, 1, 1, 0, 3])  # 5 of the 8 non-ones become ones.
  backdoor = poisoning.attack_metrics(_settings(kind="backdoor", target_class=1), labels,
                                      predictions, triggered)
  assert backdoor == {"target_class_accuracy": 0.5, "attack_success": 5 / 8}
  noise = poisoning.attack_metrics(_settings(kind="random_flip"), labels, predictions)
  assert noise == {"target_class_accuracy": 0.25, "attack_success": 0.5}


@pytest.mark.parametrize("poison,match", [
    (dict(fraction=1.5), r"config.poison.fraction must be in \[0, 1\]; got 1.5."),
    (dict(fraction=-0.1), r"config.poison.fraction must be in \[0, 1\]; got -0.1."),
    (dict(kind="label_noise"), "Unknown config.poison.kind 'label_noise'; choose one of "),
    (dict(kind="class_flip", source_class=3, target_class=3),
     "source_class and target_class are both 3; a class flip needs two different classes."),
    (dict(kind="class_flip", source_class=10),
     r"config.poison.source_class must be a class in \[0, 9\]; got 10."),
    (dict(kind="backdoor", target_class=-1),
     r"config.poison.target_class must be a class in \[0, 9\]; got -1."),
    (dict(kind="backdoor", patch_size=29),
     r"config.poison.patch_size must be in \[1, 28\] to fit the 28x28 images; got 29."),
])
def test_bad_settings_fail_in_one_sentence_before_writing(tmp_path, poison, match):
  with pytest.raises(UserError, match=match) as e:
    loop.train_and_evaluate(_tiny(**poison), str(tmp_path / "run"))
  assert "\n" not in str(e.value) and str(e.value).endswith(".")
  assert not os.path.exists(tmp_path / "run")


def test_a_config_without_poison_settings_is_refused(tmp_path):
  with pytest.raises(UserError, match="needs config.poison; start from"):
    loop.train_and_evaluate(tiny_config(experiment="poisoned"), str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run")


def test_sweep_checks_every_fraction_before_writing(tmp_path):
  with pytest.raises(UserError, match=r"fraction must be in \[0, 1\]; got 2.0."):
    poison_sweep.sweep(_tiny(kind="backdoor"), str(tmp_path / "sweep"), [0.0, 0.1, 2.0])
  with pytest.raises(UserError, match="needs a config with experiment 'poisoned'"):
    poison_sweep.sweep(tiny_config(), str(tmp_path / "sweep"), [0.0])
  assert not os.path.exists(tmp_path / "sweep")


@pytest.mark.parametrize("fractions,message", [
    ("0,1.5", "error: config.poison.fraction must be in [0, 1]; got 1.5."),
    ("0,a tenth", "error: --fractions takes numbers separated by commas; got 0,a tenth."),
])
def test_script_reports_bad_fractions_in_one_line(tmp_path, fractions, message):
  out = run_script("poison_sweep.py", "--config=experiments/configs/poison_backdoor_mnist5k.py",
                   f"--workdir={tmp_path / 'sweep'}", f"--fractions={fractions}")
  assert out.returncode == 2 and "Traceback" not in out.stderr
  assert [l for l in out.stderr.splitlines() if l.startswith("error:")] == [message]
  assert not os.path.exists(tmp_path / "sweep")


def test_backdoor_sweep_end_to_end(tmp_path):
  config = _tiny(kind="backdoor", target_class=1, patch_size=6)
  workdir = str(tmp_path / "sweep")
  result = poison_sweep.sweep(config, workdir, [0.5, 0.0])
  assert [r["fraction"] for r in result["runs"]] == [0.0, 0.5]
  test = data.load("mnist5k", "test")
  triggered = poisoning.add_trigger(test["image"], 6)
  for r in result["runs"]:
    records = writers.read_metrics(r["workdir"])
    assert records[-1]["step"] == 8
    # The logged attack metrics are those of the final model, recomputed here.
    _, state, _ = restore.restore_classifier(r["workdir"])
    predict = lambda images: np.argmax(inference.logits_fn(state)(inference.to_float(images)), -1)
    expected = poisoning.attack_metrics(config.poison, test["label"], predict(test["image"]),
                                        predict(triggered))
    for name in ("test_attack_success", "test_target_class_accuracy", "test_accuracy"):
      assert r[name] == records[-1][name]
    for name, value in expected.items():
      assert r[f"test_{name}"] == pytest.approx(value, abs=1e-6), name
  # Half the other classes' images carry the trigger and label 1: it works after 8 steps
  # (attack success 0.64 against 0.00 unpoisoned, on the 2-core CPU build machine).
  clean, dirty = result["runs"]
  assert dirty["test_attack_success"] > clean["test_attack_success"] + 0.3
  with open(os.path.join(workdir, poison_sweep.RESULTS_FILE)) as f:
    assert json.load(f) == result
  assert os.path.getsize(os.path.join(workdir, poison_sweep.CURVE_FILE)) > 0
  # Re-running reuses the finished runs: nothing is trained again.
  before = [writers.read_metrics(r["workdir"]) for r in result["runs"]]
  assert poison_sweep.sweep(config, workdir, [0.0, 0.5]) == result
  assert [writers.read_metrics(r["workdir"]) for r in result["runs"]] == before
