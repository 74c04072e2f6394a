# The two commands a new user needs: `make demo` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SOURCES := attribution tests examples bench

.PHONY: install chromium postgresql lint test demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Headless Chromium for the browser tests: Debian's package (Playwright cannot download browsers here).
chromium:
	@bash scripts/ensure-chromium.sh

# PostgreSQL's server binaries for the PostgreSQL outbox tests (they start their own throwaway server).
postgresql:
	@bash scripts/ensure-postgresql.sh

lint: install
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: install chromium postgresql lint
	$(BIN)/python -m pytest

demo: install
	$(BIN)/python -m examples.demo

bench: install
	$(BIN)/python bench/bench_capture.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
