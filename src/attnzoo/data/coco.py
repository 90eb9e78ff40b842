"""COCO-format detection data: ``instances_*.json`` and images, read with pycocotools, and the
sharded, resumable loader of (images, targets) batches that torchvision's detectors take.

Layout (COCO's official one): ``ROOT/annotations/instances_{split}.json`` and the images in
``ROOT/{split}/``, with ``split`` ``train2017`` (training) and ``val2017`` (test, COCO's
"minival"). ``ROOT`` is a path, or the built-in name ``coco``, looked up as ``coco/`` in the
data directories (:mod:`.places`); it is never downloaded (about 20 GB).

Training follows torchvision's detection reference and MMDetection (the BA2M paper's framework):
crowd annotations and boxes of zero width or height are left out, and images without any box left
are skipped. The loader flips each image horizontally with probability 0.5 and, for multi-scale
training, draws its shorter side from a list, both from (seed, epoch, batch); it groups the
batches by aspect ratio (:mod:`.grouping`) and may decode in worker processes. Resizing (shorter
side to ``min_size`` or the drawn size, longer at most ``max_size``), normalisation and padding
into one batch tensor are the detector's transform's (torchvision's
``GeneralizedRCNNTransform``, :mod:`attnzoo.models.detector`).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ..models.detector import TRAIN_SIZE
from ..validation import AttnzooError
from .dataset import DatasetError
from .grouping import aspect_ratio_groups, grouped_order
from .loader import ShardedLoader, seed_of
from .pasted import NAME, pasted_root
from .places import data_dirs

SPLITS = {"train": "train2017", "test": "val2017"}
Target = dict[str, torch.Tensor]
DetectionBatch = tuple[list[torch.Tensor], list[Target]]


def _coco_api() -> Any:
    try:
        from pycocotools.coco import COCO
    except ImportError:
        raise ImportError("detection needs pycocotools: pip install 'attnzoo[detection]'") from None
    return COCO


def find_coco(name_or_path: str | os.PathLike, split: str) -> tuple[Path, Path]:
    """The annotation file and image folder of ``split`` (train2017, val2017, ...) of a COCO-format
    root: a path, ``coco`` found in the data directories, or ``cifar10-pasted`` (built on first use,
    :mod:`.pasted`). Missing: one line naming the places."""
    if str(name_or_path) == NAME:
        roots = [pasted_root()]
    elif str(name_or_path) == "coco":
        roots = [d / "coco" for d in data_dirs()]
    else:
        roots = [Path(name_or_path)]
    for root in roots:
        annotations, images = root / "annotations" / f"instances_{split}.json", root / split
        if annotations.is_file() and images.is_dir():
            return annotations, images
    places = ", ".join(f"{r}/annotations/instances_{split}.json" for r in roots)
    raise FileNotFoundError(
        f"COCO-format data not found: no {places} (with its images in {split}/); get COCO 2017 "
        "from https://cocodataset.org/#download and unpack it there, or give data: PATH"
    )


def read_rgb(path: Path) -> torch.Tensor:
    """The image at ``path`` as uint8 (3, H, W) RGB; unreadable: one line naming it."""
    try:
        with Image.open(path) as file:
            pixels = np.asarray(file.convert("RGB"))
    except OSError as err:
        raise DatasetError(f"{path}: cannot read the image ({err})") from None
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)


class CocoDetection:
    """The images and instances of one COCO-format split.

    ``train``: leave out crowd and empty boxes and the images left without a box. ``masks``:
    targets carry each instance's binary mask (Mask R-CNN). Labels are 1..K, the categories in
    the order of their ids (0 is the detectors' background); ``category_ids`` maps them back.
    """

    def __init__(self, annotations: Path, images: Path, *, train: bool, masks: bool) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            self.coco = _coco_api()(str(annotations))
        self.image_dir, self.train, self.masks = images, train, masks
        self.category_ids = sorted(self.coco.getCatIds())
        if not self.category_ids:
            raise DatasetError(f"{annotations}: no categories")
        self.classes = [self.coco.cats[c]["name"] for c in self.category_ids]
        self._label = {c: i + 1 for i, c in enumerate(self.category_ids)}
        ids = sorted(self.coco.getImgIds())
        self.ids = [i for i in ids if self._annotations(i)] if train else ids

    def __len__(self) -> int:
        return len(self.ids)

    def aspect_ratios(self) -> list[float]:
        """Each image's width / height, from the annotation file (no image is read)."""
        return [self.coco.imgs[i]["width"] / self.coco.imgs[i]["height"] for i in self.ids]

    def _annotations(self, image_id: int) -> list[dict[str, Any]]:
        found = self.coco.loadAnns(self.coco.getAnnIds(imgIds=image_id))
        keep = [a for a in found if a["bbox"][2] > 0 and a["bbox"][3] > 0]
        return [a for a in keep if not a.get("iscrowd", 0)] if self.train else keep

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Target]:
        """Image ``index`` as uint8 (3, H, W) and its target: ``boxes`` (x1, y1, x2, y2) in
        pixels, ``labels``, ``image_id`` and, with ``masks``, uint8 ``masks`` (K, H, W)."""
        image_id = self.ids[index]
        info = self.coco.imgs[image_id]
        image = read_rgb(self.image_dir / info["file_name"])
        anns = self._annotations(image_id)
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        target = {
            "boxes": boxes,
            "labels": torch.tensor(
                [self._label[a["category_id"]] for a in anns], dtype=torch.int64
            ),
            "image_id": torch.tensor(image_id),
        }
        if self.masks:
            masks = [self.coco.annToMask(a) for a in anns]
            shape = (len(anns), info["height"], info["width"])
            target["masks"] = torch.from_numpy(np.stack(masks)) if masks else torch.zeros(shape)
            target["masks"] = target["masks"].to(torch.uint8)
        return image, target


def hflip(image: torch.Tensor, target: Target) -> tuple[torch.Tensor, Target]:
    """``image`` and its ``target`` mirrored left to right."""
    width = image.shape[-1]
    flipped = dict(target)
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
    flipped["boxes"] = boxes
    if "masks" in target:
        flipped["masks"] = target["masks"].flip(-1)
    return image.flip(-1), flipped


class _Decoded(Dataset):
    """Decodes the image of an (index, flip, training size) key, in a DataLoader worker or not.

    A failure is returned as its message, raised by the main process as one line rather than
    as DataLoader's re-raised worker traceback.
    """

    def __init__(self, dataset: CocoDetection) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, bool, int]) -> tuple[Any, Any, str | None]:
        index, flip, size = key
        try:
            image, target = self.dataset[index]
        except DatasetError as err:
            return None, None, str(err)
        if flip:
            image, target = hflip(image, target)
        if size:
            target[TRAIN_SIZE] = torch.tensor(size)
        return image, target, None


class DetectionLoader(ShardedLoader):
    """Batches of (list of float images in [0, 1], list of targets) of a :class:`CocoDetection`.

    The plan (order, sharding, resuming at any batch) is :class:`ShardedLoader`'s. Batch i of an
    epoch draws the random choices of its whole global batch from (seed, epoch, i), so the
    ranks' images together are a single process's, and a resumed epoch's are an uninterrupted
    one's: with ``flip``, a horizontal flip with probability 0.5; with ``train_sizes``, each
    image's shorter side for the detector's transform, uniformly among them (multi-scale
    training; the target carries it as ``TRAIN_SIZE``). With ``group_factor`` (a shuffled
    loader only), batches hold images of one aspect-ratio group (:mod:`.grouping`), from the
    dataset's ``aspect_ratios()``. ``num_workers`` processes decode the images (0: this one),
    in order; images are moved to ``device``.
    """

    def __init__(
        self,
        dataset: CocoDetection,
        batch_size: int,
        *,
        shuffle: bool,
        drop_last: bool,
        flip: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str | None = None,
        group_factor: int | None = None,
        train_sizes: Sequence[int] = (),
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            len(dataset),
            batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            seed=seed,
            rank=rank,
            world_size=world_size,
        )
        if num_workers < 0:
            raise AttnzooError(f"num_workers must be >= 0, got {num_workers}")
        self.dataset, self.flip, self.num_workers = dataset, flip, num_workers
        self.train_sizes = tuple(train_sizes)
        self.device = torch.device("cpu" if device is None else device)
        self.groups = None if group_factor is None else self._groups(group_factor)

    def _groups(self, factor: int) -> torch.Tensor:
        if not self.shuffle:
            raise AttnzooError("aspect-ratio grouping is for a shuffled (training) loader")
        ratios = getattr(self.dataset, "aspect_ratios", None)
        if ratios is None:
            raise AttnzooError(
                f"{type(self.dataset).__name__} has no aspect_ratios(): it cannot be grouped "
                "by aspect ratio"
            )
        return aspect_ratio_groups(ratios(), factor)

    def _order(self, epoch: int) -> torch.Tensor:
        order = super()._order(epoch)
        if self.groups is None:
            return order
        return grouped_order(order, self.groups, self.batch_size * self.world_size)

    def _keys(self, epoch: int, start: int) -> Iterator[list[tuple[int, bool, int]]]:
        """This rank's (index, flip, training size or 0) of each batch from ``start`` on."""
        for i, batch, rows in self._plan(epoch, start):
            generator = torch.Generator().manual_seed(seed_of(self.seed, epoch, i))
            flips = (torch.rand(len(batch), generator=generator) < 0.5) & self.flip
            sizes = torch.zeros(len(batch), dtype=torch.int64)
            if self.train_sizes:  # drawn after the flips: those stay as without train_sizes
                choice = torch.randint(len(self.train_sizes), (len(batch),), generator=generator)
                sizes = torch.tensor(self.train_sizes)[choice]
            yield list(
                zip(batch[rows].tolist(), flips[rows].tolist(), sizes[rows].tolist(), strict=True)
            )

    def _iterate(self, epoch: int, start: int) -> Iterator[DetectionBatch]:
        # Workers live for one iteration, as StreamLoader's (see there why). The generator is
        # DataLoader's own: by default it draws its workers' seed from torch's global RNG, which
        # a resumed run would then draw once more than an uninterrupted one (the detectors'
        # RPN and RoI sampling use it); every random choice here is drawn in _keys instead.
        loader = DataLoader(
            _Decoded(self.dataset),
            batch_sampler=self._keys(epoch, start),
            num_workers=self.num_workers,
            collate_fn=list,
            generator=torch.Generator().manual_seed(seed_of(self.seed, epoch)),
        )
        for items in loader:
            images, targets = [], []
            for image, target, error in items:
                if error is not None:
                    raise DatasetError(error)
                images.append(image.to(self.device).float() / 255)
                targets.append({k: v.to(self.device) for k, v in target.items()})
            yield images, targets
