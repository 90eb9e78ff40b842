"""MNIST-style idx files (MNIST, Fashion-MNIST: Xiao, Rasul and Vollgraf, 2017), plain or gzipped.

An idx file is a big-endian header, the magic number (2051 for images, 2049 for labels) and then
one 32-bit size per dimension, followed by the uint8 values in row-major order.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from ..validation import AttnzooError
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
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049


def _find(root: Path, name: str) -> Path:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"idx file not found: {root / name} (or {name}.gz)")


def _read_idx_file(path: Path, magic: int) -> np.ndarray:
    """The array stored in ``path``, whose magic number must be ``magic``."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"cannot read {path}: {err}") from None
    ndim = magic & 0xFF  # the low byte of the magic number is the number of dimensions
    header = 4 * (1 + ndim)
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
        raise DatasetError(f"{path}: expected an idx file with magic number {magic}, got {found}")
    shape = tuple(int.from_bytes(raw[4 * i : 4 * i + 4], "big") for i in range(1, ndim + 1))
    if len(raw) - header != int(np.prod(shape)):
        raise DatasetError(
            f"{path} is truncated or padded: its header says {shape} = {int(np.prod(shape))} "
            f"values, the file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def is_idx_folder(path: Path) -> bool:
    """Whether ``path`` is a folder holding MNIST-style idx files."""
    return path.is_dir() and any(path.glob("*-idx[13]-ubyte*"))


def read_idx(
    root: str | Path,
    split: str,
    *,
    classes: tuple[str, ...] = FASHION_MNIST_CLASSES,
    max_per_class: int | None = None,
) -> ImageDataset:
    """Read ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` as (N, 1, H, W) images.

    ``classes`` names the labels (Fashion-MNIST's by default; pass ``tuple("0123456789")`` for
    MNIST); ``max_per_class`` keeps the first k images of each class.
    """
    if split not in _PREFIX:
        raise AttnzooError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"idx folder not found: {root}")
    images_path = _find(root, f"{_PREFIX[split]}-images-idx3-ubyte")
    labels_path = _find(root, f"{_PREFIX[split]}-labels-idx1-ubyte")
    images = _read_idx_file(images_path, _IMAGES_MAGIC)
    labels = _read_idx_file(labels_path, _LABELS_MAGIC)
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels"
        )
    if len(labels) and labels.max() >= len(classes):
        raise DatasetError(f"{labels_path}: label {labels.max()} but only {len(classes)} classes")
    dataset = ImageDataset(
        torch.from_numpy(images.copy()).unsqueeze(1),  # copy: frombuffer arrays are read-only
        torch.from_numpy(labels.astype(np.int64)),
        tuple(classes),
    )
    return dataset.first_per_class(max_per_class)
