"""The tour (`make demo`): every stage runs and reports; failures are contained; the README's
results block is regenerated from a report."""

import importlib.metadata
import os
import re

import pytest

from conftest import REPO, load_config_file, run_script

from gan_lab.runs import loop, workdirs
from gan_lab.studies import report, tables, tour

FIXTURE = os.path.join(REPO, "tests", "fixtures", "tour_report.json")


def test_tiny_tour_reports_every_stage_with_a_figure_and_a_table(tmp_path):
  workdir = tmp_path / "tour"
  out = run_script("tour.py", "--config=experiments/configs/tour.py:tiny",
                   f"--workdir={workdir}", timeout=900)
  assert out.returncode == 0, out.stderr[-3000:]
  n = len(tour.STAGES)
  for i in range(1, n + 1):  # A progress line when each stage starts and ends.
    assert len(re.findall(rf"^\[{i}/{n}\] ", out.stdout, re.M)) == 2, out.stdout
  rep = workdirs.read_json(workdir / "report.json")
  assert [s["key"] for s in rep["sections"]] == [s.key for s in tour.STAGES]
  markdown = (workdir / "report.md").read_text()
  page = (workdir / "report.html").read_text()
  for s in rep["sections"]:
    assert s["status"] == "ok" and s["sentence"] and s["rows"] and s["figures"], s
    assert all(len(row) == len(s["columns"]) for row in s["rows"])
    assert s["title"] in markdown and s["sentence"] in markdown
    assert tables.markdown_table(s["columns"], s["rows"]) in markdown
    for figure in s["figures"]:
      assert (workdir / figure).stat().st_size > 1000
      assert f"]({figure})" in markdown
  # Self-contained: every figure is embedded, nothing is linked.
  assert page.count('src="data:image/png;base64,') == sum(len(s["figures"]) for s in
                                                            rep["sections"])
  assert not re.search(r'src="(?!data:)', page)
  assert rep["versions"]["jax"] == importlib.metadata.version("jax")
  assert rep["config"]["stages"] == [s.key for s in tour.STAGES]

  again = run_script("tour.py", "--config=experiments/configs/tour.py:tiny",
                     f"--workdir={workdir}", "--config.stages=vat")
  assert again.returncode == 2 and "report.json exists; choose another --workdir" in again.stderr
  assert workdirs.read_json(workdir / "report.json") == rep


def test_a_failed_stage_is_reported_and_the_others_go_on(tmp_path):
  out = run_script("tour.py", "--config=experiments/configs/tour.py:tiny",
                   f"--workdir={tmp_path}", "--config.stages=attacks,vat,poisoning",
                   "--config.vat.vat.labels_per_class=1000")
  assert out.returncode == 1, out.stderr[-3000:]
  sections = {s["key"]: s for s in workdirs.read_json(tmp_path / "report.json")["sections"]}
  assert sections["attacks"]["status"] == "skipped"
  assert "Needs the stage cnn_vs_mlp" in sections["attacks"]["error"]
  assert sections["vat"]["status"] == "failed"
  assert sections["vat"]["error"].startswith("Cannot take 1000 labels per class")
  assert sections["poisoning"]["status"] == "ok"
  assert "FAILED: Cannot take 1000 labels per class" in out.stdout
  assert "Stages that did not finish: attacks, vat." in out.stdout
  assert "FAILED: Cannot take 1000" in (tmp_path / "report.md").read_text()

  bad = run_script("tour.py", "--config=experiments/configs/tour.py:tiny",
                   f"--workdir={tmp_path / 'x'}", "--config.stages=gans")
  assert bad.returncode == 2 and "Unknown tour stage gans; choose from cnn_vs_mlp" in bad.stderr
  assert not os.path.exists(tmp_path / "x")


def test_a_signal_stops_the_whole_tour_not_one_stage(tmp_path, monkeypatch):
  def stopped(*args, **kwargs):
    raise loop.Stopped("SIGTERM stopped the run at step 2 of 4.", 15)

  monkeypatch.setattr(loop, "train_and_evaluate", stopped)
  config = load_config_file("tour")
  config.stages = ("vat", "poisoning")
  with pytest.raises(loop.Stopped):
    tour.run(config, str(tmp_path / "t"))
  assert not os.path.exists(tmp_path / "t" / "report.json")


def test_readme_tables_are_regenerated_from_a_report(tmp_path):
  rep = workdirs.read_json(FIXTURE)
  readme = tmp_path / "README.md"
  readme.write_text(f"intro\n{report.README_BEGIN}\nold table\n{report.README_END}\nrest\n")
  out = run_script("readme_tables.py", f"--report={FIXTURE}", "--readme=README.md", cwd=tmp_path)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.strip() == f"Updated {readme} from {FIXTURE}"  # Absolute paths.
  text = readme.read_text()
  assert text.startswith("intro\n") and text.endswith("\nrest\n") and "old table" not in text
  for s in rep["sections"]:
    for row in s["rows"]:
      assert "| " + " | ".join(tables.cell(v) for v in row) + " |" in text
  assert rep["date"][:10] in text and rep["machine"] in text
  # The repository's README shows exactly the committed report's numbers.
  with open(os.path.join(REPO, "README.md")) as f:
    assert report.readme_block(rep) in f.read()

  missing = run_script("readme_tables.py", f"--report={tmp_path / 'none.json'}",
                       f"--readme={readme}")
  assert missing.returncode == 2 and "pass the report.json that a tour wrote" in missing.stderr
  readme.write_text("no block\n")
  bad = run_script("readme_tables.py", f"--report={FIXTURE}", f"--readme={readme}")
  assert bad.returncode == 2 and "has no results block" in bad.stderr
  assert readme.read_text() == "no block\n"
