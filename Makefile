# The README's two set-up commands. Both work on a machine where nothing was installed by hand.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch is pinned to the local CPU build; any other torch requirement pulls several GB.
TORCH := torch==2.13.0

.PHONY: demo test clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e ".[fl]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e ".[fl,dev]"
	touch $@

demo: $(VENV)/.installed-demo
	$(PY) -m fl

test: $(VENV)/.installed-dev
	$(PY) -m ruff check secagg fl
	$(PY) -m mypy secagg
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
