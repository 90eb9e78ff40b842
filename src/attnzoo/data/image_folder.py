"""ImageFolder trees (``<split>/<class>/<image>``) from a directory or a ``.tar.gz`` archive.

The split folders may sit at the top of the directory or archive or inside one folder there
(``cifar10-jpeg/train/airplane/0000.jpg``). Classes are the sorted class folder names and images
are taken in file name order. An archive is read as a stream and only the images kept (the first
``max_per_class`` of each class) are decoded. The decoded split is cached as ``.npz``, keyed by the
source's content, so later calls skip decoding. All images of a split must have one size: this
reader is for small CIFAR-like images held in memory.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..io import atomic_write
from ..validation import AttnzooError
from .dataset import DatasetError, ImageDataset, check_max_per_class
from .identity import dataset_sha256, stat_digest
from .places import default_cache_dir

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp"})
# Part of every cache key: bump it when decoding changes so that stale cache files are not reused.
_CACHE_FORMAT = 1


def is_archive(path: Path) -> bool:
    return path.name.endswith((".tar.gz", ".tgz"))


class _FirstFiles:
    """The alphabetically first ``limit`` image files of one class seen so far (all if None).

    Entries are (file name, location for error messages, encoded bytes), kept sorted by name.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.entries: list[tuple[str, str, bytes]] = []

    def wants(self, name: str) -> bool:
        return self.limit is None or len(self.entries) < self.limit or name < self.entries[-1][0]

    def add(self, name: str, location: str, data: bytes) -> None:
        bisect.insort(self.entries, (name, location, data))
        if self.limit is not None:
            del self.entries[self.limit :]


def _is_image(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


def _scan_archive(path: Path, split: str, limit: int | None) -> dict[str, _FirstFiles]:
    classes: dict[str, _FirstFiles] = {}
    try:
        # "r|gz" streams the archive once, front to back, without seeking or an index.
        with tarfile.open(path, "r|gz") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                top = 0 if parts[:1] == (split,) else 1  # <split>/... or <folder>/<split>/...
                if parts[top : top + 1] != (split,):
                    continue
                if member.isdir() and len(parts) == top + 2:
                    classes.setdefault(parts[-1], _FirstFiles(limit))
                elif member.isfile() and len(parts) == top + 3 and _is_image(parts[-1]):
                    kept = classes.setdefault(parts[-2], _FirstFiles(limit))
                    if kept.wants(parts[-1]):
                        data = tar.extractfile(member).read()
                        kept.add(parts[-1], f"{path}:{member.name}", data)
    except (tarfile.TarError, zlib.error, EOFError, OSError) as err:
        raise DatasetError(f"corrupt or truncated archive {path}: {err}") from None
    return classes


def _scan_directory(path: Path, split: str, limit: int | None) -> dict[str, _FirstFiles]:
    candidates = [path / split] + [d / split for d in sorted(path.iterdir()) if d.is_dir()]
    split_dir = next((c for c in candidates if c.is_dir()), None)
    if split_dir is None:
        raise DatasetError(f"{path} has no '{split}/' folder, at its top or one folder down")
    classes: dict[str, _FirstFiles] = {}
    for class_dir in (d for d in split_dir.iterdir() if d.is_dir()):
        kept = classes[class_dir.name] = _FirstFiles(limit)
        for file in class_dir.iterdir():
            if file.is_file() and _is_image(file.name) and kept.wants(file.name):
                kept.add(file.name, str(file), file.read_bytes())
    return classes


def _decode(data: bytes, location: str) -> np.ndarray:
    """One encoded image as a (H, W, 3) uint8 RGB array."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as err:
        raise DatasetError(f"unreadable or truncated image {location}: {err}") from None


def _decode_split(path: Path, split: str, max_per_class: int | None) -> ImageDataset:
    scan = _scan_archive if is_archive(path) else _scan_directory
    found = scan(path, split, max_per_class)
    if not found:
        raise DatasetError(f"{path} has no '{split}/<class>/' folders")
    classes = tuple(sorted(found))
    for name in classes:
        if not found[name].entries:
            raise DatasetError(f"class folder '{split}/{name}' in {path} holds no images")
    files = [
        (label, location, data)
        for label, name in enumerate(classes)
        for _, location, data in found[name].entries
    ]
    first_location, first_data = files[0][1:]
    height, width, _ = _decode(first_data, first_location).shape
    images = np.empty((len(files), 3, height, width), dtype=np.uint8)
    for i, (_, location, data) in enumerate(files):
        array = _decode(data, location)
        if array.shape[:2] != (height, width):
            raise DatasetError(
                f"image {location} is {array.shape[1]}x{array.shape[0]} but {first_location} is "
                f"{width}x{height}: all images of a split must have one size"
            )
        images[i] = array.transpose(2, 0, 1)
    labels = torch.tensor([label for label, _, _ in files], dtype=torch.int64)
    return ImageDataset(torch.from_numpy(images), labels, classes)


def _source_digest(path: Path, cache_dir: Path) -> str:
    """sha256 of an archive's bytes, or of a directory's relative paths, sizes and mtimes."""
    return dataset_sha256(path, cache_dir / "sha256") if path.is_file() else stat_digest(path)


def _load_cache(file: Path) -> ImageDataset | None:
    """The dataset cached in ``file``, or None when it is missing or unreadable."""
    try:
        with np.load(file, allow_pickle=False) as z:
            classes = tuple(str(c) for c in z["classes"])
            return ImageDataset(
                torch.from_numpy(z["images"]), torch.from_numpy(z["labels"]), classes
            )
    except (OSError, EOFError, ValueError, KeyError, zlib.error, zipfile.BadZipFile):
        return None  # DatasetError is a ValueError: a cache that fails validation is rebuilt too


def _save_cache(file: Path, dataset: ImageDataset) -> None:
    arrays = {
        "images": dataset.images.numpy(),
        "labels": dataset.labels.numpy(),
        "classes": np.array(dataset.classes),
    }
    try:
        atomic_write(file, lambda f: np.savez(f, **arrays))
    except OSError as err:  # a read-only cache only costs speed
        warnings.warn(f"cannot write dataset cache {file}: {err}", stacklevel=3)


def read_image_folder(
    path: str | Path,
    split: str,
    *,
    max_per_class: int | None = None,
    cache_dir: str | Path | None = None,
) -> ImageDataset:
    """Read ``split`` of an ImageFolder directory or ``.tar.gz``, as (N, 3, H, W) RGB images.

    ``max_per_class`` keeps the first k files (by name) of each class. Decoded images are cached
    under ``cache_dir`` (default: ``$ATTNZOO_CACHE`` or ``~/.cache/attnzoo``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    if not (path.is_dir() or is_archive(path)):
        raise DatasetError(f"{path} is neither a directory nor a .tar.gz/.tgz archive")
    if split in ("", ".", "..") or PurePosixPath(split).name != split:
        raise AttnzooError(f"split must be a folder name such as 'train', got {split!r}")
    check_max_per_class(max_per_class)
    stem = path.name.removesuffix(".tar.gz").removesuffix(".tgz")
    cache_dir = Path(cache_dir or default_cache_dir())
    key = hashlib.sha256(
        f"{_source_digest(path, cache_dir)}\0{split}\0{max_per_class}\0{_CACHE_FORMAT}".encode()
    ).hexdigest()[:32]
    cache_file = cache_dir / f"{stem}-{split}-{key}.npz"
    dataset = _load_cache(cache_file)
    if dataset is None:
        dataset = _decode_split(path, split, max_per_class)
        _save_cache(cache_file, dataset)
    return dataset
