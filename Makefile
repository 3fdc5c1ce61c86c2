# Two commands do everything on a fresh machine:
#   make test   create .venv if missing, install, run the test suite
#   make demo   same install, then the end-to-end pipeline on embedded synthetic data
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test demo lint clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -r requirements.txt -r requirements-dev.txt
	# the suite itself, editable: console scripts (segloss-*) and importable packages
	$(BIN)/python -m pip install --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: install
	$(BIN)/python scripts/demo.py

clean:
	rm -rf data/processed data/synthetic runs results/demo .pytest_cache
