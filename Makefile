# Fresh machine: `make run` (install + ELEC on MovieLens-100K), `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= runs/ml100k
CONFIG ?= configs/ml100k.yaml

.PHONY: install install-dev run test lint clean

$(BIN)/python:
	@echo "creating $(VENV) (the first install takes a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is pinned first, so the open range in pyproject.toml does not pick another
# build; where pip would pull this version's CUDA build and you want the CPU one,
# install it from PyTorch's CPU index first (see the README).
$(VENV)/.installed: $(BIN)/python pyproject.toml
	@echo "installing torch 2.13.0 and elec into $(VENV)"
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	@echo "installing the test and export extras into $(VENV)"
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/elec run --config $(CONFIG) --out $(OUT)

test: install-dev
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs
