"""Datasets by built-in name or by path, with the on-disk format detected."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..validation import AttnzooError
from .cifar import find_cifar_folder, read_cifar
from .dataset import DatasetError, ImageDataset
from .download import SOURCES, fetch_dataset
from .identity import dataset_sha256
from .idx import is_idx_folder, read_idx
from .image_folder import is_archive, read_image_folder
from .places import data_dirs

Reader = Callable[..., ImageDataset]


# Debian/Ubuntu's package dataset-fashion-mnist puts the four .gz files here.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

# Each built-in name gives the places it may be, in order of preference.
_BUILTIN: dict[str, Callable[[], list[Path]]] = {
    # The official python-format archive, unpacked (downloaded when absent).
    "cifar10": lambda: [d / "cifar-10-batches-py" for d in data_dirs()],
    # The JPEG re-encoding of CIFAR-10 that ships in the clone's data/ (see data/README.md).
    "cifar10-jpeg": lambda: [d / "cifar10-jpeg.tar.gz" for d in data_dirs()],
    "cifar100": lambda: [d / "cifar-100-python" for d in data_dirs()],
    "fashion-mnist": lambda: [*(d / "fashion-mnist" for d in data_dirs()), DEBIAN_FASHION_MNIST],
}


# How to get each built-in dataset by hand, for the error that says it is missing.
_HOW = {
    "cifar10": "unpack cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html",
    "cifar10-jpeg": "cifar10-jpeg.tar.gz ships in the repository's data/ folder",
    "cifar100": "unpack cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html",
    "fashion-mnist": "apt install dataset-fashion-mnist, or the four .gz files from "
    "https://github.com/zalandoresearch/fashion-mnist in a fashion-mnist/ folder",
}


def list_datasets() -> list[str]:
    """The built-in dataset names."""
    return sorted(_BUILTIN)


def _find_builtin(name: str, download: bool) -> Path:
    places = _BUILTIN[name]()
    found = next((p for p in places if p.exists()), None)
    if found is not None:
        return found
    if download and name in SOURCES:
        return fetch_dataset(name)
    how = f"put it in one of those places ({_HOW[name]})"
    if name in SOURCES:
        how += ", run without --no-download to fetch it"
    raise FileNotFoundError(
        f"dataset not found: built-in {name!r} is at none of "
        + ", ".join(str(p) for p in places)
        + f"; {how}, or give --data PATH"
    )


def _resolve(name_or_path: str | os.PathLike, download: bool) -> Path:
    if isinstance(name_or_path, str) and name_or_path in _BUILTIN:
        return _find_builtin(name_or_path, download)
    path = Path(name_or_path)
    if not path.exists():
        raise FileNotFoundError(
            f"dataset not found: {name_or_path} is no existing path, nor a built-in name "
            f"({', '.join(list_datasets())})"
        )
    return path


def _reader_for(path: Path) -> Reader:
    if is_archive(path):
        return read_image_folder
    if not path.is_dir():
        raise DatasetError(
            f"{path}: unknown dataset format; expected a .tar.gz/.tgz ImageFolder archive or a "
            "directory (ImageFolder, CIFAR python format or idx files)"
        )
    if find_cifar_folder(path) is not None:
        return read_cifar
    if is_idx_folder(path):
        return read_idx
    return read_image_folder


def load_dataset(
    name_or_path: str | os.PathLike, split: str, download: bool = True, **options: Any
) -> ImageDataset:
    """Load ``split`` of a built-in dataset (see ``list_datasets``) or of the dataset at a path.

    A built-in name is looked up by the rule of :mod:`attnzoo.data.places`; ``cifar10``,
    ``cifar100`` and ``fashion-mnist`` are downloaded there when missing (see
    :mod:`attnzoo.data.download`) unless ``download`` is false.

    A path may be an ImageFolder ``.tar.gz`` or directory, a CIFAR-10/100 python-format folder or
    a folder of idx files. ``options`` go to the reader: ``max_per_class`` (all readers),
    ``label_kind`` (CIFAR-100), ``cache_dir`` (ImageFolder), ``classes`` (idx).
    """
    path = _resolve(name_or_path, download)
    reader = _reader_for(path)
    accepted = [
        name
        for name, p in inspect.signature(reader).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise AttnzooError(
            f"{reader.__name__} (for {path}) does not take the option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(accepted)}"
        )
    return reader(path, split, **options)


def dataset_identity(name_or_path: str | os.PathLike) -> str:
    """The sha256 that identifies the bytes of a dataset already in place (a built-in name or a
    path, as :func:`load_dataset` and :func:`~attnzoo.data.stream.open_stream` take it): of its
    file, or of its folder's manifest (see :mod:`attnzoo.data.identity`); of a CIFAR folder only
    when the path holds one, so that other files beside it do not count."""
    path = _resolve(name_or_path, download=False)
    if path.is_dir():
        path = find_cifar_folder(path) or path
    return dataset_sha256(path)
