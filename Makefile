# Two entry points: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean slurm

# torch and torchvision are pinned as a pair (torchvision's compiled ops match one torch) and
# installed first, so that pip does not pick another pair for the rest. The rest is not
# byte-compiled at install (--no-compile): most of the extras' modules are never imported, and
# Python compiles those that are on first import (43 -> 26 s on the 2-core machine).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet --no-compile -e ".[dev]"
	touch $(STAMP)

# pytest exits 5 when it collects no test; make treats any non-zero exit as a failure.
# Two xdist workers, one per core of CI's two (not -n auto: a bigger machine would start more
# workers than the Slurm node and the 2-rank DDP tests are sized for, each repeating the
# session fixtures; three on two cores measured no faster). loadgroup keeps the tests marked
# xdist_group (Slurm jobs, the wheel, the analysis runs) together on one worker. A plain
# `pytest FILE` stays serial. --durations: the slowest tests, for whoever keeps the suite short.
# The venv and the one-node Slurm are independent (pip and apt): they are built side by side.
test:
	$(MAKE) --no-print-directory -j2 $(STAMP) slurm
	$(PY) -m ruff check src tests
	$(PY) -m ruff format --check src tests
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=25

# A one-node Slurm for tests/engine/test_slurm.py. Where it cannot start (not root, no apt), the
# script says why in one line and those tests skip with the same line.
slurm:
	-@scripts/slurm-local.sh start

# Smoke-scale comparison on the bundled CIFAR-10 (JPEG): 10,000 training and 2,000 test images,
# 6 epochs, ResNet-20 with and without BA2M. Not a reproduction: see README.
DEMO_ARGS := --model resnet20 --data cifar10-jpeg --train-per-class 1000 --test-per-class 200 \
	--epochs 6 --batch-size 64 --lr 0.1 --schedule cosine --seed 0 \
	--resume auto  # run again: continues, or reports, the runs in runs/demo
demo: $(STAMP)
	$(PY) -m attnzoo train $(DEMO_ARGS) --attention none --out-dir runs/demo/resnet20-none
	$(PY) -m attnzoo train $(DEMO_ARGS) --attention ba2m --out-dir runs/demo/resnet20-ba2m
	$(PY) -m attnzoo compare runs/demo/resnet20-none runs/demo/resnet20-ba2m

lint: $(STAMP)
	$(PY) -m ruff check src tests
	$(PY) -m ruff format --check src tests

clean:
	rm -rf $(VENV) runs
