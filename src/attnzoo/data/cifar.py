"""CIFAR-10 and CIFAR-100 in their standard python pickle format (Krizhevsky, 2009).

``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` and
``cifar-100-python/{train, test, meta}``: pickled dicts with bytes keys, each ``b"data"`` a uint8
array whose rows hold the R, G and B planes of a 32x32 image, one after the other.

A pickle can run arbitrary code while it loads, so these files are read with an unpickler that
resolves only the few NumPy names an array needs and refuses everything else.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from ..validation import AttnzooError
from .dataset import DatasetError, ImageDataset

_CIFAR10_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_IMAGE_SHAPE = (3, 32, 32)


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` limited to what Python 3 pickles bytes as in protocol 2."""
    if encoding != "latin1":
        raise DatasetError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


# The array reconstructor lives in numpy.core (NumPy 1, which wrote the real files) or numpy._core
# (NumPy 2); taking it from an array's own __reduce__ avoids importing the deprecated module.
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED:
            raise DatasetError(f"refusing to load {module}.{name}: CIFAR files only hold arrays")
        return _ALLOWED[module, name]


def _load_dict(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR file not found: {path}")
    try:
        with path.open("rb") as f:
            # The files were pickled by Python 2: encoding="bytes" keeps its str keys as bytes.
            obj = _RestrictedUnpickler(f, encoding="bytes").load()
    except Exception as err:  # anything a corrupt or hostile pickle raises means a bad file
        raise DatasetError(f"cannot read CIFAR pickle {path}: {err}") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path} is not a CIFAR file: expected a dict, got {type(obj).__name__}")
    return obj


def _field(batch: dict, key: bytes, path: Path) -> object:
    if key not in batch:
        raise DatasetError(f"{path} has no {key!r} entry (keys: {sorted(batch)})")
    return batch[key]


def _class_names(path: Path, key: bytes) -> tuple[str, ...]:
    names = _field(_load_dict(path), key, path)
    if not isinstance(names, list) or not all(isinstance(n, bytes | str) for n in names):
        raise DatasetError(f"{path}: {key!r} must be a list of names")
    return tuple(n.decode() if isinstance(n, bytes) else n for n in names)


def _read_batch(path: Path, label_key: bytes, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _load_dict(path)
    data = _field(batch, b"data", path)
    size = int(np.prod(_IMAGE_SHAPE))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape[1:] != (size,):
        raise DatasetError(f"{path}: b'data' must be a uint8 array of rows of {size} values")
    try:
        labels = np.asarray(_field(batch, label_key, path), dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{path}: {label_key!r} is not a list of ints: {err}") from None
    if labels.shape != (len(data),):
        raise DatasetError(f"{path}: {len(data)} images but {label_key!r} has shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"{path}: {label_key!r} outside [0, {num_classes})")
    return data.reshape(-1, *_IMAGE_SHAPE), labels


def find_cifar_folder(path: Path) -> Path | None:
    """``path`` if it is a CIFAR-10/100 python folder, else such a folder directly inside it."""
    for folder in (path, path / "cifar-10-batches-py", path / "cifar-100-python"):
        if (folder / "batches.meta").is_file() or (
            (folder / "meta").is_file() and (folder / "train").is_file()
        ):
            return folder
    return None


def read_cifar(
    root: str | Path,
    split: str,
    *,
    label_kind: str | None = None,
    max_per_class: int | None = None,
) -> ImageDataset:
    """Read ``split`` ("train" or "test") of CIFAR-10 or CIFAR-100 in the python pickle format.

    ``root`` is ``cifar-10-batches-py/`` or ``cifar-100-python/``, or a folder containing one.
    ``label_kind`` ("fine", the default, or "coarse") picks CIFAR-100's labels; ``max_per_class``
    keeps the first k images of each class.
    """
    if split not in ("train", "test"):
        raise AttnzooError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"CIFAR folder not found: {root}")
    folder = find_cifar_folder(root)
    if folder is None:
        raise DatasetError(
            f"{root} holds no CIFAR python-format data: expected cifar-10-batches-py/ "
            "(batches.meta, data_batch_1..5, test_batch) or cifar-100-python/ (meta, train, test)"
        )
    if (folder / "batches.meta").is_file():
        if label_kind is not None:
            raise AttnzooError(f"label_kind applies to CIFAR-100 only; {folder} is CIFAR-10")
        meta, names_key, label_key = "batches.meta", b"label_names", b"labels"
        batches = _CIFAR10_BATCHES[split]
    else:
        label_kind = label_kind or "fine"
        if label_kind not in ("fine", "coarse"):
            raise AttnzooError(f"label_kind must be 'fine' or 'coarse', got {label_kind!r}")
        meta, batches = "meta", [split]
        names_key, label_key = f"{label_kind}_label_names".encode(), f"{label_kind}_labels".encode()
    classes = _class_names(folder / meta, names_key)
    images, labels = zip(
        *(_read_batch(folder / name, label_key, len(classes)) for name in batches), strict=True
    )
    dataset = ImageDataset(
        torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)), classes
    )
    return dataset.first_per_class(max_per_class)
