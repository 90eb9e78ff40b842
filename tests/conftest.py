"""Shared fixtures: caches kept out of the home directory, small datasets in real formats."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.fixtures import write_cifar10


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep decoded-dataset caches out of the user's home directory."""
    monkeypatch.setenv("ATTNZOO_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    torch.set_num_threads(2)


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
