# make run  : install into .venv if needed, ingest ZIP (default: the bundled sample), open the page
# make test : install into .venv if needed (and Chromium for the browser test), run every test
# make test-unit : the linters (ruff, mypy) and the fast tests of tests/unit only (under a minute on 2 cores)
SHELL := /bin/bash
# The first Python 3.11 or newer on the PATH; 3.11 first, the version every test runs on.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
	  $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
ZIP ?= examples/animals-mini.zip
PORT ?= 8501
PAGE_LOG ?= streamlit.log
PYTEST_ARGS ?=

.PHONY: run ui test test-unit lint install chromium bench clean

install: $(VENV)/.installed

# Reinstall only when the project's requirements change.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || test -n "$(PYTHON)" || { echo "error: no Python 3.11 or newer on the PATH: install python3.11 (e.g. apt install python3.11, brew install python@3.11)" >&2; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# The page starts beside the load, at once: it shows the load's progress and training curves,
# and searches as soon as the photos are in. The load's progress stays on this terminal, the
# page's log goes to $(PAGE_LOG); Ctrl-C stops both.
run: install
	@$(BIN)/streamlit run ui/app.py --server.port $(PORT) >"$(PAGE_LOG)" 2>&1 & page=$$!; \
	trap 'kill $$page 2>/dev/null' EXIT; \
	echo "the page: http://localhost:$(PORT) (it follows the load; its log: $(PAGE_LOG))"; \
	$(BIN)/ingest load "$(ZIP)" || exit $$?; \
	echo "the page: http://localhost:$(PORT) (Ctrl-C stops it)"; \
	wait $$page

ui: install
	$(BIN)/streamlit run ui/app.py --server.port $(PORT)

# Debian's Chromium for the browser test; never `playwright install` (it downloads a browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# ruff, and mypy on encoder, ingest and ui ([tool.mypy] in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Every test: tests/unit, tests/e2e (the CLI as a process), tests/ui (AppTest, Chromium), tests/faults.
test: lint chromium
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

# The fast tests only: no CLI process, no browser, no load of the sample.
test-unit: lint
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

# The runs behind docs/benchmarks.md (about an hour on 2 cores); each prints JSON. The data sets
# are looked for in $CBIR_DATASETS, else ../shared/datasets (bench/datasets.py).
bench: install
	for zip in bigcats dogbreeds cifar10-animals; do $(BIN)/python -m bench.quality --zip $$zip --product; done
	$(BIN)/python -m bench.quality --zip bigcats --subset 100 --product
	$(BIN)/python -m bench.scale --points 100000 --load-photos 50000
	$(BIN)/python -m bench.edge_payload
	$(BIN)/python -m bench.query

clean:
	rm -rf cbir-data test-artifacts streamlit.log
