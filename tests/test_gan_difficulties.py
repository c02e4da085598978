"""The study of the lecture's four GAN difficulties: each measure read from a run's log."""

import json

import pytest

from conftest import load_config_file
from gan_lab.core.errors import UserError
from gan_lab.runs import writers
from gan_lab.studies import gan_difficulties as gd

HISTORY = [
    {"step": 2, "train_g_loss": 1.0, "train_d_loss": 0.9, "train_d_fake": 0.4,
     "test_classifier_fid": 300.0, "test_classes_covered": 4, "test_class_kl": 0.9},
    {"step": 4, "train_g_loss": 3.0, "train_d_loss": 0.5, "train_d_fake": 0.3},
    {"step": 6, "train_g_loss": 1.0, "train_d_loss": 0.2, "train_d_fake": 0.2,
     "test_classifier_fid": 200.0, "test_classes_covered": 6, "test_class_kl": 0.5},
    {"step": 8, "train_g_loss": 2.0, "train_d_loss": 0.1, "train_d_fake": 0.1,
     "test_classifier_fid": 260.0, "test_classes_covered": 7, "test_class_kl": 0.4},
]


def test_each_measure_on_a_known_history():
  # Second half of G's losses: [1, 2], std 0.5 over mean 1.5.
  assert gd.measure("oscillation", HISTORY)["measure"] == pytest.approx(1 / 3)
  assert gd.measure("discriminator_wins", HISTORY)["measure"] == 0.1
  collapse = gd.measure("mode_collapse", HISTORY)
  assert collapse["measure"] == 7 and collapse["classifier_fid"] == 260.0
  # Second half of the evals' FIDs: [200, 260] (of three), std 30.
  assert gd.measure("instability", HISTORY)["measure"] == pytest.approx(30.0)
  with pytest.raises(UserError, match="Unknown GAN difficulty 'vanishing'"):
    gd.measure("vanishing", HISTORY)


def test_improved_knows_which_way_each_measure_goes():
  better = lambda d, a, b: gd.improved(d, {"measure": a}, {"measure": b})
  assert better("oscillation", 0.3, 0.1) and not better("oscillation", 0.1, 0.3)
  assert better("mode_collapse", 2, 8) and not better("mode_collapse", 8, 2)
  assert better("discriminator_wins", 0.01, 0.9)
  assert not better("instability", 5.0, 5.0)


def test_the_study_trains_both_runs_of_a_difficulty_on_one_budget(classifier_run, tmp_path):
  workdir, _ = classifier_run
  config = load_config_file("gan_difficulties")
  config.update(difficulties=("discriminator_wins",), classifier_workdir=workdir, num_steps=4,
                eval_every=2, num_eval_samples=100)
  result = gd.compare(config, str(tmp_path))
  pair = result["discriminator_wins"]
  for name, run in pair.items():
    history = writers.read_metrics(run["workdir"])
    assert history[-1]["step"] == 4 and run["measure"] == history[-1]["train_d_loss"]
    assert [h["step"] for h in history if "test_classifier_fid" in h] == [2, 4]
  saved = json.loads((tmp_path / gd.RESULTS_FILE).read_text())
  assert saved["discriminator_wins"]["fixed"]["fix"] == "spectral normalisation"
  # The fixed run differs from the plain one in its stabiliser only.
  plain = json.loads((tmp_path / "discriminator_wins" / "plain" / "config.json").read_text())
  fixed = json.loads((tmp_path / "discriminator_wins" / "fixed" / "config.json").read_text())
  assert {k for k in fixed["gan"] if fixed["gan"][k] != plain["gan"].get(k)} == {
      "spectral_norm"}
  config.difficulties = ("vanishing",)
  with pytest.raises(UserError, match="Unknown GAN difficulty 'vanishing'"):
    gd.compare(config, str(tmp_path / "other"))
