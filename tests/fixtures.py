"""Test data written in the real on-disk formats, and the location of the bundled archive."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
BUNDLED_CIFAR10 = REPO / "data" / "cifar10-jpeg.tar.gz"
# The detection tests' detector: ResNet-18 under a 16-channel FPN on 64 px images, decoding in the
# training process (worker start-up would dominate runs this small).
TINY_DETECTOR = dict(
    task="detection",
    model="resnet18",
    min_size=64,
    max_size=64,
    fpn_channels=16,
    batch_size=2,
    eval_batch_size=4,
    lr=0.01,
    device="cpu",
    tensorboard=False,
    workers=0,
)


def write_cifar10(root: Path, per_batch: int = 40, seed: int = 0) -> Path:
    """A tiny CIFAR-10 python-format dataset: classes are separable by their mean colour."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
    ]
    for name in names:
        labels = rng.integers(0, 10, per_batch)
        images = rng.integers(0, 60, (per_batch, 3, 32, 32)) + labels[:, None, None, None] * 19
        batch = {
            b"data": images.astype(np.uint8).reshape(per_batch, -1),
            b"labels": labels.tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [f"class{i}".encode() for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def randomized(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with random BN scales, shifts and statistics (convolutions keep
    their random init): zero-initialised last BN scales (timm's) would hide a misplaced tensor."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point() and t.dim() == 1:
                u = torch.rand(t.shape, generator=g)
                t.copy_(u + 0.5 if name.endswith(("weight", "running_var")) else (u - 0.5) / 5)
    return model.eval()
