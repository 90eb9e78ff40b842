"""Real training runs shared by the analysis tests: BA2M with epoch snapshots, and a baseline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.fixtures import write_cifar10

from attnzoo.engine import TrainConfig, train


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """One intra-op thread, over the root conftest's two: these batches are small, and on a shared
    two-core machine a second thread mostly waits for a core (this folder took 14 s with one
    thread and 71 s with two, under the same load)."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"data": tiny CIFAR-10, "ba2m": 2 epochs with epoch-001/002 kept, "none": 1 epoch}."""
    torch.set_num_threads(1)  # set up before the function-scoped _one_thread
    root = tmp_path_factory.mktemp("analysis")
    data = write_cifar10(root)
    common = {
        "model": "resnet20",
        "data": str(data),
        "train_per_class": 10,
        "batch_size": 20,
        "eval_batch_size": 50,
        "tensorboard": False,
    }
    ba2m, none = root / "ba2m", root / "none"
    train(
        TrainConfig(attention=["ba2m"], epochs=2, keep_every=1, out_dir=str(ba2m), **common),
        progress=False,
    )
    train(TrainConfig(epochs=1, out_dir=str(none), **common), progress=False)
    return {"data": data, "ba2m": ba2m, "none": none}
