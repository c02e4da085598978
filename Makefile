# `make demo` and `make test` set themselves up from nothing: a .venv with this package and
# its pinned-range dependencies (PyPI only), then run. Everything after install is offline.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)

.PHONY: demo test install clean check-report

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "gan_lab needs Python 3.11 or newer; set PYTHON=python3.11 (or newer).")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,onednn]'
	$(BIN)/python -m gan_lab.native.build
	touch $(STAMP)

# The tour of the lecture (experiments/configs/tour.py): every topic, then report.md/.html.
demo: $(STAMP)
	$(BIN)/python experiments/tour.py --config=experiments/configs/tour.py --workdir=$(DEMO_DIR)

# The import contract (pyproject.toml [tool.importlinter]) first: it takes a second. The
# suite runs on two workers, each test file on one (its module fixtures are built once).
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadfile

# A screenshot of a tour's report.html at reading width (headless Chromium; without one it
# says so and does nothing), to see how the report reads. Not part of `make test`.
# REPORT defaults to the newest `make demo` report.
REPORT ?= $(lastword $(sort $(wildcard runs/demo-*/report.html)))
check-report: $(STAMP)
	$(BIN)/python experiments/check_report.py --report=$(REPORT)

clean:
	rm -rf $(VENV) runs
