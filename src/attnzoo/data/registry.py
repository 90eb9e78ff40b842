"""Datasets by built-in name or by path, with the on-disk format detected."""

from __future__ import annotations

import os
from pathlib import Path

from .cifar import find_cifar_root, read_cifar
from .dataset import ImageDataset
from .idx import is_idx_folder, read_idx
from .image_folder import is_archive, read_image_folder


def _data_dirs() -> list[Path]:
    dirs = [Path("data"), Path(__file__).resolve().parents[3] / "data"]
    if "ATTNZOO_DATA_DIR" in os.environ:
        dirs.insert(0, Path(os.environ["ATTNZOO_DATA_DIR"]))
    return dirs


def _bundled(file: str) -> Path:
    for folder in _data_dirs():
        if (folder / file).exists():
            return folder / file
    return _data_dirs()[0] / file  # not found: the error names the first place looked


BUILTIN = {
    "cifar10": lambda: _bundled("cifar10-jpeg.tar.gz"),
    "fashion-mnist": lambda: Path("/usr/share/datasets/fashion-mnist"),
}


def list_datasets() -> list[str]:
    return sorted(BUILTIN)


def load_dataset(
    name_or_path: str | os.PathLike,
    split: str,
    *,
    max_per_class: int | None = None,
    label_kind: str = "fine",
) -> ImageDataset:
    """Load ``split`` ("train" or "test") of a built-in dataset or of a dataset at a path.

    Paths may be a ``.tar.gz`` or folder in ImageFolder layout, a CIFAR-10/100 python-format folder,
    or a folder of idx files. ``max_per_class`` keeps the first k images of each class;
    ``label_kind`` picks CIFAR-100's fine or coarse labels.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = BUILTIN[name_or_path]() if name_or_path in BUILTIN else Path(name_or_path)
    if not path.exists():
        hint = "" if name_or_path in BUILTIN else f"; built-in names: {', '.join(list_datasets())}"
        raise FileNotFoundError(f"dataset not found: {path}{hint}")
    if is_archive(path):
        return read_image_folder(path, split, max_per_class=max_per_class)
    if path.is_dir() and find_cifar_root(path) is not None:
        return read_cifar(path, split, label_kind=label_kind).per_class(max_per_class)
    if is_idx_folder(path):
        return read_idx(path, split).per_class(max_per_class)
    if path.is_dir():
        return read_image_folder(path, split, max_per_class=max_per_class)
    raise FileNotFoundError(
        f"{path} is not a dataset: expected a .tar.gz, a CIFAR python folder, an idx folder or an "
        "ImageFolder directory"
    )
