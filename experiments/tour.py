"""The whole lecture in one run (what `make demo` runs): trains, attacks and reports.

  python experiments/tour.py --config=experiments/configs/tour.py --workdir=runs/tour

Writes each stage's runs under <workdir>/<stage>/ and the report as <workdir>/report.md,
report.html (self-contained: open it in any browser) and report.json. A stage that fails is
reported and the others go on; the command then exits with status 1.
"""

import sys

from absl import flags
from ml_collections import config_flags

from gan_lab.core import cli
from gan_lab.runs import workdirs
from gan_lab.studies import tour

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiments/configs/tour.py[:tiny]")
_WORKDIR = flags.DEFINE_string("workdir", None, "Holds every stage's runs and the report.")
flags.mark_flags_as_required(["config", "workdir"])


def _progress(i: int, n: int, section: dict) -> None:
  if section["status"] == "running":
    print(f"[{i + 1}/{n}] {section['title']} ...", flush=True)
  elif section["status"] == "ok":
    print(f"[{i + 1}/{n}] done in {section['seconds']:.0f} s: {section['sentence']}", flush=True)
  else:
    print(f"[{i + 1}/{n}] {section['status'].upper()}: {section['error']}", flush=True)


def main(argv):
  del argv
  report = tour.run(_CONFIG.value, _WORKDIR.value, on_stage=_progress)
  workdir = workdirs.local_path(_WORKDIR.value)
  bad = [s["key"] for s in report["sections"] if s["status"] != "ok"]
  print(f"Report in {workdir}/report.html and report.md ({report['total_seconds']:.0f} s)." +
        (f" Stages that did not finish: {', '.join(bad)}." if bad else ""))
  if bad:
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main)
