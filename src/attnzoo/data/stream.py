"""ImageFolder datasets too large for memory (ImageNet), decoded in DataLoader worker processes.

``open_stream`` lists a split's files; ``StreamLoader`` decodes and augments them in workers and
normalises the uint8 batches on the device. It has ``BatchLoader``'s interface and guarantees:
sharding by global batch, and resuming an epoch at any batch in O(1).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ..validation import AttnzooError
from .dataset import DatasetError
from .image_folder import IMAGE_EXTENSIONS
from .loader import Batch, ShardedLoader
from .pil_transforms import (
    EVAL_CROP_FRACTION,
    IMAGENET_MEAN,
    IMAGENET_STD,
    RandomResizedCropFlip,
    ResizeCenterCrop,
    to_uint8_chw,
)
from .transforms import normalize

Samples = list[tuple[Path, int]]
# The folder of each split, in order of preference.
SPLIT_FOLDERS = {"train": ("train",), "test": ("val", "test")}


def _entries(folder: Path) -> list[os.DirEntry]:
    """``folder``'s entries by name, without hidden ones such as macOS's ``._x.jpg`` forks."""
    try:
        with os.scandir(folder) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as err:
        raise DatasetError(f"cannot list {folder}: {err.strerror or err}") from None


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _check_folder(root: Path) -> None:
    if not root.exists():
        raise FileNotFoundError(f"dataset not found: {root}")
    if not root.is_dir():
        raise DatasetError(f"{root} is not a directory")


def _class_names(root: Path) -> list[str]:
    return [e.name for e in _entries(root) if e.is_dir()]


def scan_image_folder(root: str | os.PathLike) -> tuple[Samples, list[str]]:
    """The (path, label) samples and the classes of a ``root/<class>/<image>`` folder.

    Classes are the sorted class folder names; a class's samples are its files with an image
    extension, sorted by name. Files directly in ``root`` and hidden entries are ignored.
    """
    root = Path(root)
    _check_folder(root)
    classes = _class_names(root)
    if not classes:
        raise DatasetError(f"{root} has no class folders (expected {root}/<class>/<image>)")
    samples: Samples = []
    for label, name in enumerate(classes):
        images = [e for e in _entries(root / name) if _is_image(e.name)]
        if not images:
            raise DatasetError(
                f"class folder {root / name} holds no images "
                f"(extensions {', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        for entry in images:
            if not entry.is_file():  # a broken link, or a folder named like an image
                raise DatasetError(f"{entry.path} is named as an image but is no readable file")
            samples.append((Path(entry.path), label))
    return samples, classes


def _split_folder(root: Path, split: str) -> Path | None:
    return next((root / f for f in SPLIT_FOLDERS[split] if (root / f).is_dir()), None)


def open_stream(root: str | os.PathLike, split: str) -> tuple[Samples, list[str]]:
    """The samples and classes of ``split`` of an ImageNet-layout folder.

    "train" reads ``root/train/<class>/*``, "test" reads ``root/val/<class>/*`` (or ``root/test``
    when there is no ``val``). When the other split exists its class folders must be the same:
    otherwise a label would name different classes in the two.
    """
    if split not in SPLIT_FOLDERS:
        raise AttnzooError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    _check_folder(root)
    folder = _split_folder(root, split)
    if folder is None:
        names = " or ".join(f"{f}/" for f in SPLIT_FOLDERS[split])
        raise DatasetError(f"{root} has no {names} folder for the {split!r} split")
    samples, classes = scan_image_folder(folder)
    other = _split_folder(root, "test" if split == "train" else "train")
    if other is not None and (other_classes := _class_names(other)) != classes:
        only_one = sorted(set(classes) ^ set(other_classes))
        raise DatasetError(
            f"{folder} has {len(classes)} class folders and {other} has {len(other_classes)}; "
            f"labels would not match. In only one of them: {', '.join(only_one[:5])}"
            + (", ..." if len(only_one) > 5 else "")
        )
    return samples, classes


# PIL's errors for files it cannot decode: truncated or corrupt data, unknown formats, bombs.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


class _DecodedFiles(Dataset):
    """Decodes and transforms the sample of an (epoch, index) key, in a DataLoader worker.

    The random draws come from (seed, epoch, index) alone, so the result does not depend on the
    number of workers or on which one decodes. A failure is returned as a message rather than
    raised: the main process then raises a one-line ``DatasetError`` instead of DataLoader's
    re-raised worker traceback, or drops the image.
    """

    def __init__(
        self, samples: Samples, transform: RandomResizedCropFlip | ResizeCenterCrop, seed: int
    ) -> None:
        # NumPy arrays, not a list of objects: every worker reading a list of 1.28M ImageNet paths
        # would touch their reference counts and so copy all the pages they lie on.
        self.paths = np.array([os.fsencode(path) for path, _ in samples])
        self.labels = np.array([label for _, label in samples], dtype=np.int64)
        self.transform, self.seed = transform, seed

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor | None, int, str | None]:
        epoch, index = key
        path, label = os.fsdecode(self.paths[index]), int(self.labels[index])
        rng = np.random.default_rng(np.random.SeedSequence((self.seed, epoch, index)))
        try:
            with Image.open(path) as image:
                # convert() loads the pixels: truncated data fails here, inside the try.
                image = self.transform(image.convert("RGB"), rng)
        except _DECODE_ERRORS as err:
            return None, label, f"unreadable or truncated image {path}: {err}"
        return to_uint8_chw(image), label, None


def _collate(
    items: list[tuple[torch.Tensor | None, int, str | None]],
) -> tuple[torch.Tensor | None, torch.Tensor, list[str]]:
    """(stacked images of the readable samples or None if none is, their labels, failures)."""
    good = [(image, label) for image, label, error in items if error is None]
    images = torch.stack([image for image, _ in good]) if good else None
    labels = torch.tensor([label for _, label in good], dtype=torch.int64)
    return images, labels, [error for _, _, error in items if error is not None]


class StreamLoader(ShardedLoader):
    """Yields (normalised float32 images, int64 labels) batches of image files, on ``device``.

    ``samples`` and ``classes`` are as ``open_stream`` returns them. The interface, the sharding
    (see ``ShardedLoader``) and the resumption are ``BatchLoader``'s. With ``train``: shuffled,
    ``drop_last`` by default, a random resized crop of ``image_size`` (area fraction in
    ``scale``, aspect ratio in ``ratio``) and a flip; without: the shorter side resized to
    ``resize_size`` (default ``image_size / 0.875``, 256 for 224) and the centre cropped. Both
    resize with ``interpolation`` (bilinear, bicubic, nearest). Each sample's draws come from
    (seed, epoch, sample index).

    An unreadable image raises ``DatasetError`` naming its file; with ``skip_bad`` it is dropped
    from its batch instead and counted in ``skipped`` (exact: over all batches yielded so far).
    A batch with no readable image raises even then, since skipping it would leave this
    process a batch short of the others.
    """

    def __init__(
        self,
        samples: Samples,
        classes: Sequence[str],
        batch_size: int,
        *,
        train: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 4,
        image_size: int = 224,
        resize_size: int | None = None,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        interpolation: str = "bilinear",
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        drop_last: bool | None = None,
        skip_bad: bool = False,
        device: torch.device | str | None = None,
    ) -> None:
        if not samples:
            raise DatasetError("no samples to load")
        labels = [label for _, label in samples]
        if not 0 <= min(labels) <= max(labels) < len(classes):
            raise DatasetError(
                f"sample labels must lie in [0, {len(classes)}) for {len(classes)} classes, "
                f"got values in [{min(labels)}, {max(labels)}]"
            )
        if num_workers < 0:
            raise AttnzooError(f"num_workers must be >= 0, got {num_workers}")
        if not len(mean) == len(std) == 3:
            raise AttnzooError(f"mean and std need 3 values (RGB), got {list(mean)}, {list(std)}")
        super().__init__(
            len(samples),
            batch_size,
            shuffle=train,
            drop_last=train if drop_last is None else drop_last,
            seed=seed,
            rank=rank,
            world_size=world_size,
        )
        if train:
            transform = RandomResizedCropFlip(image_size, scale, ratio, interpolation)
        else:
            if resize_size is None:
                resize_size = round(image_size / EVAL_CROP_FRACTION)
            transform = ResizeCenterCrop(image_size, resize_size, interpolation)
        self.samples, self.classes = samples, tuple(classes)
        self.mean, self.std = tuple(mean), tuple(std)
        self.device = torch.device("cpu" if device is None else device)
        self.num_workers, self.skip_bad, self.skipped = num_workers, skip_bad, 0
        self._files = _DecodedFiles(samples, transform, seed)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def _iterate(self, epoch: int, start: int) -> Iterator[Batch]:
        keys = (
            [(epoch, index) for index in batch[rows].tolist()]
            for _, batch, rows in self._plan(epoch, start)
        )
        # Workers live for one iteration, not across epochs (persistent_workers): this loader is
        # then freed as soon as the epoch ends, fails or is abandoned. A persistent one is freed
        # with the StreamLoader, often by the cyclic garbage collector (an exception's traceback
        # is enough), and its shutdown then stalls 5 s per worker on queues already closed.
        loader = DataLoader(
            self._files,
            batch_sampler=keys,
            num_workers=self.num_workers,
            collate_fn=_collate,
            pin_memory=self.device.type == "cuda",
        )
        for images, labels, failures in loader:
            if failures and not self.skip_bad:
                raise DatasetError(failures[0])
            if images is None:
                raise DatasetError(
                    f"no image of a batch is readable (first: {failures[0]}); skip_bad cannot "
                    "drop a whole batch without desynchronising the processes"
                )
            self.skipped += len(failures)
            images = images.to(self.device, non_blocking=True)
            yield normalize(images, self.mean, self.std), labels.to(self.device, non_blocking=True)
