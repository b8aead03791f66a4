# The README's two set-up commands. Both work on a machine where nothing was installed by hand.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch is pinned to the local CPU build; any other torch requirement pulls several GB.
TORCH := torch==2.13.0

.PHONY: demo test docs bench bench-quick flower-demo clean

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

# The harness compares against Flower's SecAgg+: the `compare` extra pins flwr. It runs
# from the checkout (`python -m benchmarks`): it is not part of the installed library.
$(VENV)/.installed-bench: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e ".[fl,dev,compare]"
	touch $@

$(VENV)/.installed-flower: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e ".[fl,flower]"
	touch $@

demo: $(VENV)/.installed-demo
	$(PY) -m fl

test: $(VENV)/.installed-dev
	$(PY) -m ruff check secagg fl benchmarks examples
	$(PY) -m mypy secagg fl benchmarks examples
	$(PY) -m sphinx -W -n -q -b html docs/api out/api
	$(PY) -m pytest

# The API reference (docs/api, from the docstrings) in out/api/index.html; warnings and
# broken cross-references are errors, here and in make test.
docs: $(VENV)/.installed-dev
	$(PY) -m sphinx -W -n -q -b html docs/api out/api
	@echo "API reference: out/api/index.html"

# The full sweep (about 15 minutes on 2 cores); rewrites benchmarks/results/full.csv and
# docs/benchmarks.md.
# A real local Flower deployment (SuperLink + 5 SuperNodes on 127.0.0.1): 3 rounds of
# SecAgg+ FedAvg on MNIST, one SuperNode killed in round 2; writes out/flower/results.json.
flower-demo: $(VENV)/.installed-flower
	PYTHONPATH=. $(PY) examples/flower/deployment.py --out out/flower

bench: $(VENV)/.installed-bench
	$(PY) -m benchmarks sweep

bench-quick: $(VENV)/.installed-bench
	$(PY) -m benchmarks sweep --quick --doc benchmarks/results/quick.md \
		--img-dir benchmarks/results/quick-img

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
