"""The tour (`make demo`): every stage runs and reports; failures are contained; the README's
results block is regenerated from a report."""

import html
import importlib.metadata
import json
import os
import re

import pytest
from PIL import Image

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
    for figure in s["figures"]:  # Each with a caption that says what it shows.
      assert (workdir / figure["path"]).stat().st_size > 1000
      assert f"]({figure['path']})\n\n*{figure['caption']}*" in markdown
      assert f"<figcaption>{html.escape(figure['caption'])}</figcaption>" in page
  attacks = next(s for s in rep["sections"] if s["key"] == "attacks")["figures"]
  assert [f["caption"].split(":")[0] for f in attacks] == ["Untargeted"] * 2 + [
      "Targeted at class 3"] * 2
  training = next(s for s in rep["sections"] if s["key"] == "adversarial_training")
  assert [row[0] for row in training["rows"]] == ["normal", "FGSM-trained", "PGD-trained"]
  aa = re.search(r"AutoAttack \(fast version\) on the first 16 test digits only, .* robust "
                 r"accuracy normal ([\d.]+) \(PGD-2: ([\d.]+)\)", " ".join(training["notes"]))
  assert aa and all(0 <= float(v) <= 1 for v in aa.groups())
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


def _report_with_figures(tmp_path, captions: bool) -> dict:
  """The committed report, its figures small PNGs in `tmp_path`, with captions or (as
  reports from before captions) bare paths."""
  rep = workdirs.read_json(FIXTURE)
  for s in rep["sections"]:
    paths = [f["path"] for f in s["figures"]]
    for path in paths:
      os.makedirs(tmp_path / os.path.dirname(path), exist_ok=True)
      Image.new("RGB", (4, 4)).save(tmp_path / path)
    s["figures"] = ([{"path": path, "caption": f"What {path} shows <here>."} for path in paths]
                    if captions else paths)
  return rep


def test_report_figures_have_captions_and_the_config_is_folded(tmp_path):
  rep = _report_with_figures(tmp_path, captions=True)
  page, markdown = report.to_html(rep, str(tmp_path)), report.to_markdown(rep)
  figures = [f for s in rep["sections"] for f in s["figures"]]
  assert page.count("<figcaption>") == len(figures) > 10
  for f in figures:
    caption = html.escape(f["caption"])
    assert f'<img alt="{caption}" ' in page and f"<figcaption>{caption}</figcaption>" in page
    assert f"![{f['caption']}]({f['path']})\n\n*{f['caption']}*\n" in markdown
  # The config, most of the page's height, is folded away: the only <pre>, in a <details>.
  (folded,) = re.findall(r"<details><summary>Config</summary><pre>(.*?)</pre></details>", page,
                         re.S)
  assert json.loads(html.unescape(folded)) == rep["config"] and page.count("<pre>") == 1
  assert re.search(r"<details><summary>Config</summary>\n\n```json\n.*\n```\n\n</details>",
                   markdown, re.S)


def test_a_report_from_before_captions_still_renders(tmp_path):
  rep = _report_with_figures(tmp_path, captions=False)
  page, markdown = report.to_html(rep, str(tmp_path)), report.to_markdown(rep)
  for path in (f for s in rep["sections"] for f in s["figures"]):
    assert f"<figcaption>{os.path.basename(path)}</figcaption>" in page
    assert f"]({path})" in markdown


def test_check_report_screenshots_with_a_browser_and_does_nothing_without(tmp_path):
  page = tmp_path / "report.html"
  page.write_text("<p>report</p>")
  out = run_script("check_report.py", f"--report={page}", env={"PATH": str(tmp_path)})
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout == "None of chromium, chromium-browser, google-chrome is installed, so no " \
                       "screenshot was taken.\n"
  assert os.listdir(tmp_path) == ["report.html"]
  # A stand-in browser that writes the screenshot it is asked for and records its arguments.
  fake = tmp_path / "chromium"
  fake.write_text('#!/bin/sh\necho "$@" > "$0.args"\nfor a; do case "$a" in --screenshot=*) '
                  ': > "${a#--screenshot=}";; esac; done\n')
  fake.chmod(0o755)
  out = run_script("check_report.py", f"--report={page}", "--width=900",
                   env={"PATH": str(tmp_path)})
  assert out.returncode == 0, out.stderr[-2000:]
  args = (tmp_path / "chromium.args").read_text().split()
  assert {"--headless", "--window-size=900,12000", f"--screenshot={tmp_path / 'report.png'}",
          f"file://{page}"} <= set(args)
  assert (tmp_path / "report.png").exists() and out.stdout.startswith(
      f"Wrote {tmp_path / 'report.png'}")


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
