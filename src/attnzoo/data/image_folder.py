"""ImageFolder trees (``<split>/<class>/<image>``) from a directory or a ``.tar.gz`` archive.

The images are decoded once into a uint8 array and cached as ``.npz`` under ``$ATTNZOO_CACHE``
(default ``~/.cache/attnzoo``), keyed by the source's checksum, so later runs load in a fraction of
a second. All images of a split must have one size: this reader is for CIFAR-like data held in
memory.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..io import atomic_write
from .dataset import DatasetError, ImageDataset

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp"}


def is_archive(path: Path) -> bool:
    return path.name.endswith((".tar.gz", ".tgz"))


def cache_dir() -> Path:
    return Path(os.environ.get("ATTNZOO_CACHE", Path.home() / ".cache" / "attnzoo"))


def _source_key(path: Path) -> str:
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    else:
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            stat = file.stat()
            digest.update(f"{file.relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def _entries(path: Path, split: str) -> Iterator[tuple[str, str, bytes | None]]:
    """(class, file, bytes) for each entry under ``<split>/<class>/``; bytes None for a folder."""
    if is_archive(path):
        try:
            with tarfile.open(path, "r|gz") as tar:
                for member in tar:
                    parts = PurePosixPath(member.name).parts
                    if member.isdir() and len(parts) >= 2 and parts[-2] == split:
                        yield parts[-1], "", None
                    elif member.isfile() and len(parts) >= 3 and parts[-3] == split:
                        yield parts[-2], parts[-1], tar.extractfile(member).read()
        except (tarfile.TarError, zlib.error, EOFError, OSError) as err:
            raise DatasetError(f"corrupt or truncated archive {path}: {err}") from None
        return
    roots = [path / split] + [d / split for d in sorted(path.iterdir()) if d.is_dir()]
    split_dir = next((r for r in roots if r.is_dir()), None)
    if split_dir is None:
        return
    for class_dir in sorted(d for d in split_dir.iterdir() if d.is_dir()):
        yield class_dir.name, "", None
        for file in sorted(class_dir.iterdir()):
            if file.is_file():
                yield class_dir.name, file.name, file.read_bytes()


def _decode(data: bytes, where: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DatasetError(f"unreadable or truncated image {where}: {err}") from None


def _decode_folder(path: Path, split: str, max_per_class: int | None) -> ImageDataset:
    files: dict[str, dict[str, bytes]] = {}
    for cls, name, data in _entries(path, split):
        folder = files.setdefault(cls, {})
        if data is not None and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
            folder[name] = data
    if not files:
        raise DatasetError(f"{path} has no '{split}/<class>/' folders")
    classes = tuple(sorted(files))
    images, labels, first_shape = [], [], None
    for label, cls in enumerate(classes):
        names = sorted(files[cls])[:max_per_class]
        if not names:
            raise DatasetError(f"class folder {split}/{cls} in {path} holds no images")
        for name in names:
            where = f"{path}:{split}/{cls}/{name}"
            array = _decode(files[cls][name], where)
            if first_shape is None:
                first_shape = array.shape
            elif array.shape != first_shape:
                raise DatasetError(
                    f"image {where} is {array.shape[1]}x{array.shape[0]}, the first was "
                    f"{first_shape[1]}x{first_shape[0]}: all images must have one size"
                )
            images.append(array)
            labels.append(label)
    stacked = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return ImageDataset(stacked, torch.tensor(labels, dtype=torch.int64), classes)


def _load_cache(path: Path) -> ImageDataset | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return ImageDataset(
                torch.from_numpy(z["images"]),
                torch.from_numpy(z["labels"]),
                tuple(str(c) for c in z["classes"]),
            )
    except (OSError, ValueError, KeyError, zlib.error, EOFError):  # missing or corrupt: rebuild
        return None


def read_image_folder(
    path: str | Path, split: str, *, max_per_class: int | None = None
) -> ImageDataset:
    """Read ``split`` of an ImageFolder tree, keeping the first ``max_per_class`` of each class."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    key = f"{_source_key(path)}-{split}-{max_per_class or 'all'}"
    cached = cache_dir() / f"{path.name.split('.')[0]}-{key}.npz"
    dataset = _load_cache(cached)
    if dataset is None:
        dataset = _decode_folder(path, split, max_per_class)
        atomic_write(
            cached,
            lambda f: np.savez(
                f,
                images=dataset.images.numpy(),
                labels=dataset.labels.numpy(),
                classes=np.array(dataset.classes),
            ),
        )
    return dataset
