"""Datasets by built-in name or by path, with the on-disk format detected."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cifar import find_cifar_folder, read_cifar
from .dataset import DatasetError, ImageDataset
from .idx import is_idx_folder, read_idx
from .image_folder import is_archive, read_image_folder

Reader = Callable[..., ImageDataset]


def user_data_dir() -> Path:
    """The per-user data directory: ``$XDG_DATA_HOME/attnzoo`` (``~/.local/share/attnzoo``)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "attnzoo"


def _data_dirs() -> list[Path]:
    """Where built-in datasets are looked for, in order: ``$ATTNZOO_DATA_DIR``, the per-user
    data directory (:func:`user_data_dir`), ``./data``, and the clone's ``data/`` when attnzoo
    runs from one (a wheel has none)."""
    dirs = [user_data_dir(), Path("data")]
    clone = Path(__file__).resolve().parents[3] / "data"
    if (clone.parent / "pyproject.toml").is_file():
        dirs.append(clone)
    if os.environ.get("ATTNZOO_DATA_DIR"):
        dirs.insert(0, Path(os.environ["ATTNZOO_DATA_DIR"]))
    return dirs


# Each built-in name gives the places it may be, in order of preference.
_BUILTIN: dict[str, Callable[[], list[Path]]] = {
    "cifar10": lambda: [d / "cifar10-jpeg.tar.gz" for d in _data_dirs()],
    # Not bundled (no download here): the standard python-format folder, put in a data dir.
    "cifar100": lambda: [d / "cifar-100-python" for d in _data_dirs()],
    # Debian/Ubuntu package dataset-fashion-mnist.
    "fashion-mnist": lambda: [Path("/usr/share/datasets/fashion-mnist")],
}


# How to get each built-in dataset, for the error that says it is missing.
_HOW = {
    "cifar10": "cifar10-jpeg.tar.gz ships in the repository's data/ folder",
    "cifar100": "unpack cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html",
    "fashion-mnist": "apt install dataset-fashion-mnist",
}


def list_datasets() -> list[str]:
    """The built-in dataset names."""
    return sorted(_BUILTIN)


def _resolve(name_or_path: str | os.PathLike) -> Path:
    if isinstance(name_or_path, str) and name_or_path in _BUILTIN:
        places = _BUILTIN[name_or_path]()
        found = next((p for p in places if p.exists()), None)
        if found is None:
            raise FileNotFoundError(
                f"dataset not found: built-in {name_or_path!r} is at none of "
                + ", ".join(str(p) for p in places)
                + f"; put it in one of those places ({_HOW[name_or_path]}), or give --data PATH"
            )
        return found
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


def load_dataset(name_or_path: str | os.PathLike, split: str, **options: Any) -> ImageDataset:
    """Load ``split`` of a built-in dataset (see ``list_datasets``) or of the dataset at a path.

    A path may be an ImageFolder ``.tar.gz`` or directory, a CIFAR-10/100 python-format folder or
    a folder of idx files. ``options`` go to the reader: ``max_per_class`` (all readers),
    ``label_kind`` (CIFAR-100), ``cache_dir`` (ImageFolder), ``classes`` (idx).
    """
    path = _resolve(name_or_path)
    reader = _reader_for(path)
    accepted = [
        name
        for name, p in inspect.signature(reader).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"{reader.__name__} (for {path}) does not take the option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(accepted)}"
        )
    return reader(path, split, **options)
