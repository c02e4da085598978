"""A screenshot of a tour's report.html as a browser shows it, to see how the report reads:

  python experiments/check_report.py --report=runs/tour/report.html   (or: make check-report)

Opens the report in headless Chromium (the first of chromium, chromium-browser,
google-chrome on the PATH) in a --width x --height window and saves a PNG of it (default:
report.png beside the report, replacing an earlier one). Where none of them is installed,
it says so and does nothing.
"""

import os
import shutil
import subprocess

from absl import flags

from gan_lab.core import cli
from gan_lab.core.errors import UserError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")

_REPORT = flags.DEFINE_string("report", None, "The report.html of a tour run.")
_OUT = flags.DEFINE_string("out", None, "The screenshot (default: report.png beside it).")
_WIDTH = flags.DEFINE_integer("width", 1000, "Window width in pixels: the report's reading "
                              "width.")
_HEIGHT = flags.DEFINE_integer("height", 12000, "Window height in pixels; the page below it "
                               "is left out.")


def main(argv):
  del argv
  browser = next(filter(None, map(shutil.which, BROWSERS)), None)
  if browser is None:
    print(f"None of {', '.join(BROWSERS)} is installed, so no screenshot was taken.")
    return
  if not _REPORT.value or not os.path.isfile(_REPORT.value):
    raise UserError(f"--report={_REPORT.value or ''} is not a file; pass a tour's "
                    "<workdir>/report.html.")
  report = os.path.abspath(_REPORT.value)
  out = os.path.abspath(_OUT.value or os.path.join(os.path.dirname(report), "report.png"))
  if os.path.exists(out):
    os.remove(out)  # So that a browser that fails cannot leave an old screenshot as new.
  name = os.path.basename(browser)
  try:  # --no-sandbox: as root (containers, CI) Chromium does not start with its sandbox.
    done = subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox",
                           "--hide-scrollbars", f"--window-size={_WIDTH.value},{_HEIGHT.value}",
                           f"--screenshot={out}", "file://" + report],
                          capture_output=True, text=True, timeout=120, check=False)
  except subprocess.TimeoutExpired as e:
    raise UserError(f"{name} took more than 120 s over the screenshot of {report}.") from e
  if done.returncode or not os.path.exists(out):
    why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    raise UserError(f"{name} took no screenshot of {report}: {why}")
  print(f"Wrote {out}: {report} in a {_WIDTH.value}x{_HEIGHT.value} window of {name}.")


if __name__ == "__main__":
  cli.run(main)
