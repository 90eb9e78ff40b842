"""Shared fixtures: caches kept out of the home directory, small datasets in real formats."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.fixtures import write_cifar10

# `make test` runs the suite on two pytest-xdist workers, one per core of CI's two. Each worker then
# computes on one thread, and so do the processes its tests start that do not set their own: two
# workers at two threads each would ask four threads of two cores.
THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2
if THREADS == 1:
    os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep decoded-dataset caches and downloads out of the user's home directory, and let no
    test reach the internet: downloads go to a closed port on loopback unless a test serves them
    (tests/data/test_download.py)."""
    monkeypatch.setenv("ATTNZOO_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.getbasetemp() / "xdg-data"))
    monkeypatch.setenv("ATTNZOO_DATA_MIRROR", "http://127.0.0.1:9/no-downloads-in-tests/")
    torch.set_num_threads(THREADS)


@pytest.fixture
def one_thread():
    """One intra-op thread, for tests of tiny tensors: on a shared 2-core machine thread start-up
    and spinning dominate their run time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_cifar10(tmp_path: Path) -> Path:
    return write_cifar10(tmp_path)


@pytest.fixture
def caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty Hugging Face and torch hub caches under ``tmp_path`` (``hf/``, ``torch/``), offline:
    where pretrained weights are looked for."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path
