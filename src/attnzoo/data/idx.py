"""MNIST-style idx files (Fashion-MNIST, Xiao, Rasul, Vollgraf 2017), plain or gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from .dataset import DatasetError, ImageDataset

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_PREFIX = {"train": "train", "test": "t10k"}


def _find(root: Path, name: str) -> Path:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"idx file not found: {root / name}[.gz]")


def _read_idx(path: Path, magic: int, dims: int) -> np.ndarray:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as err:
        raise DatasetError(f"cannot read {path}: {err}") from None
    header = 4 * (1 + dims)
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise DatasetError(f"{path} is not an idx file with magic number {magic}")
    shape = tuple(int.from_bytes(raw[4 * i : 4 * i + 4], "big") for i in range(1, dims + 1))
    if len(raw) != header + int(np.prod(shape)):
        raise DatasetError(
            f"{path} is truncated or padded: header says {shape}, "
            f"file has {len(raw) - header} data bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def is_idx_folder(path: Path) -> bool:
    return path.is_dir() and any(path.glob("train-images-idx3-ubyte*"))


def read_idx(
    root: str | Path, split: str, *, classes: tuple[str, ...] = FASHION_MNIST_CLASSES
) -> ImageDataset:
    """Read ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` as (N, 1, H, W) images."""
    if split not in _PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    images = _read_idx(_find(root, f"{_PREFIX[split]}-images-idx3-ubyte"), 2051, 3)
    labels = _read_idx(_find(root, f"{_PREFIX[split]}-labels-idx1-ubyte"), 2049, 1)
    if len(images) != len(labels):
        raise DatasetError(f"{root}: {len(images)} {split} images but {len(labels)} labels")
    return ImageDataset(
        torch.from_numpy(images.copy())[:, None],
        torch.from_numpy(labels.astype(np.int64)),
        tuple(classes),
    )
