# The two commands a new user needs: `make demo` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SOURCES := attribution tests examples bench

.PHONY: install chromium postgresql lint test demo bench audit clean

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

# Before a release: every installed dependency against the published advisories (pip-audit, in a venv of its
# own). Not part of `make test`: it needs the advisory database online. --strict fails when a package could
# not be checked (offline), so a run that checked nothing never reads as clean.
AUDIT := .venv-audit
audit: install
	@test -x $(AUDIT)/bin/pip-audit || { $(PYTHON) -m venv $(AUDIT) && \
		$(AUDIT)/bin/python -m pip install --quiet --disable-pip-version-check 'pip-audit>=2.10'; }
	$(BIN)/python -m pip freeze --exclude-editable > $(AUDIT)/requirements.txt
	$(AUDIT)/bin/pip-audit --strict --no-deps --disable-pip --progress-spinner off -r $(AUDIT)/requirements.txt

clean:
	rm -rf $(VENV) $(AUDIT) .pytest_cache .mypy_cache .ruff_cache
