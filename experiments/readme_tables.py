"""Rewrites the README's results block from a tour report, so every number in it can be
regenerated:

  python experiments/tour.py --config=experiments/configs/tour.py --workdir=runs/tour
  python experiments/readme_tables.py --report=runs/tour/report.json
"""

import os

from absl import flags

from gan_lab.core import cli
from gan_lab.studies import report

_REPORT = flags.DEFINE_string("report", None, "report.json of a tour run.")
_README = flags.DEFINE_string("readme", "README.md", "The README to update in place.")
flags.mark_flags_as_required(["report"])


def main(argv):
  del argv
  readme = os.path.abspath(report.update_readme(_README.value, _REPORT.value))
  print(f"Updated {readme} from {os.path.abspath(_REPORT.value)}")


if __name__ == "__main__":
  cli.run(main)
