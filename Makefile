# Two entry points: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

# torch is pinned and installed first: a looser requirement pulls the CUDA wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# pytest exits 5 when it collects no test; make treats any non-zero exit as a failure.
test: $(STAMP)
	$(PY) -m ruff check src tests
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m attnzoo demo

lint: $(STAMP)
	$(PY) -m ruff check src tests

clean:
	rm -rf $(VENV) runs
