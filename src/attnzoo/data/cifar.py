"""CIFAR-10 and CIFAR-100 in their standard python pickle format (Krizhevsky, 2009).

``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` and
``cifar-100-python/{train, test, meta}``: pickled dicts with bytes keys, each ``b"data"`` a uint8
array of rows holding the R, G and B planes of a 32x32 image. The files are pickles, so they are
read with an unpickler that refuses every class except the NumPy array constructors they need.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch

from .dataset import DatasetError, ImageDataset

# Array constructors, and bytes as Python 3 writes them in protocol 2 (a harmless codec call).
_ALLOWED = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _load_pickle(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR file not found: {path}")
    try:
        obj = _SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except Exception as err:  # any failure of an untrusted pickle is a corrupt file
        raise DatasetError(f"cannot read CIFAR pickle {path}: {err}") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path} is not a CIFAR batch (expected a dict)")
    return obj


def _field(batch: dict, key: bytes, path: Path):
    if key not in batch:
        raise DatasetError(f"{path} has no {key.decode()!r} entry")
    return batch[key]


def find_cifar_root(path: Path) -> Path | None:
    """``path`` itself if it is a CIFAR folder, or the CIFAR folder directly inside it."""
    for candidate in (path, path / "cifar-10-batches-py", path / "cifar-100-python"):
        if (candidate / "batches.meta").is_file() or (candidate / "meta").is_file():
            return candidate
    return None


def read_cifar(root: str | Path, split: str, *, label_kind: str = "fine") -> ImageDataset:
    """Read CIFAR-10 or CIFAR-100 (``label_kind`` "fine" or "coarse") from its python format."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    folder = find_cifar_root(root)
    if folder is None:
        raise FileNotFoundError(f"no CIFAR python-format folder at {root}")
    if (folder / "batches.meta").is_file():
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        meta_path, label_key, names_key = folder / "batches.meta", b"labels", b"label_names"
    else:
        if label_kind not in ("fine", "coarse"):
            raise ValueError(f"label_kind must be 'fine' or 'coarse', got {label_kind!r}")
        names = [split]
        meta_path = folder / "meta"
        label_key, names_key = f"{label_kind}_labels".encode(), f"{label_kind}_label_names".encode()
    classes = tuple(n.decode() for n in _field(_load_pickle(meta_path), names_key, meta_path))
    images, labels = [], []
    for name in names:
        path = folder / name
        batch = _load_pickle(path)
        data = np.asarray(_field(batch, b"data", path))
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DatasetError(
                f"{path}: data must be uint8 rows of 3072 values, got {data.dtype} {data.shape}"
            )
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(np.asarray(_field(batch, label_key, path), dtype=np.int64))
    return ImageDataset(
        torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)), classes
    )
