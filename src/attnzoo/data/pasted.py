"""A small real-image detection set in COCO's layout, built from the bundled CIFAR-10 JPEGs.

Each image is a CIFAR-10 picture enlarged to ``size`` x ``size`` as background (blurred by the
enlargement), with one to three other CIFAR-10 pictures pasted on it at known places, each cut to
the ellipse inscribed in its square: the instance's mask is that ellipse and its box the square,
exact by construction. Pasted objects do not overlap. Everything is drawn from a generator seeded
by ``seed``: the same call writes the same files. It serves the end-to-end detection tests and the
tiny CPU configs (built-in name ``cifar10-pasted``, built on first use into the per-user data
directory), not any published comparison.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .places import user_data_dir
from .registry import load_dataset

NAME = "cifar10-pasted"
CLASSES = ("airplane", "automobile", "frog")  # few, distinct classes: learnable in minutes


def ellipse(height: int, width: int) -> np.ndarray:
    """The uint8 mask of the ellipse inscribed in a ``height`` x ``width`` box (pixel centres)."""
    y = (np.arange(height) + 0.5 - height / 2) / (height / 2)
    x = (np.arange(width) + 0.5 - width / 2) / (width / 2)
    return (y[:, None] ** 2 + x[None, :] ** 2 <= 1).astype(np.uint8)


def _resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (3, h, w) -> uint8 (3, size, size), bilinear."""
    out = F.interpolate(image[None].float(), size=(size, size), mode="bilinear", antialias=False)
    return out[0].round().clamp(0, 255).to(torch.uint8)


def _place(
    rng: np.random.Generator, size: int, side: int, taken: list[tuple[int, int, int]]
) -> tuple[int, int] | None:
    """A top-left corner for a ``side`` square that overlaps none ``taken``, or None."""
    for _ in range(20):
        x, y = (int(v) for v in rng.integers(0, size - side + 1, 2))
        if all(
            x + side <= tx or tx + ts <= x or y + side <= ty or ty + ts <= y for tx, ty, ts in taken
        ):
            return x, y
    return None


def _compose(
    rng: np.random.Generator, background: torch.Tensor, objects: list[torch.Tensor], size: int
) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """The image, and (object index, full-image mask) for each object pasted."""
    canvas = _resize(background, size).permute(1, 2, 0).numpy().copy()
    placed, taken = [], []
    for k, obj in enumerate(objects):
        side = int(rng.integers(size // 4, size // 2 + 1))
        corner = _place(rng, size, side, taken)
        if corner is None:
            continue
        x, y = corner
        patch = _resize(obj, side).permute(1, 2, 0).numpy()
        mask = ellipse(side, side)
        region = canvas[y : y + side, x : x + side]
        region[:] = np.where(mask[..., None] == 1, patch, region)
        full = np.zeros((size, size), np.uint8)
        full[y : y + side, x : x + side] = mask
        placed.append((k, full))
        taken.append((x, y, side))
    return canvas, placed


def _annotation(mask: np.ndarray, ann_id: int, image_id: int, category: int) -> dict:
    from pycocotools import mask as mask_utils

    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    rle = mask_utils.encode(np.asfortranarray(mask))
    rle["counts"] = rle["counts"].decode("ascii")
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category,
        "iscrowd": 0,
        "bbox": [x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0],
        "area": int(mask.sum()),
        "segmentation": rle,
    }


def write_split(root: Path, split: str, count: int, seed: int, size: int) -> None:
    """``count`` images of ``split`` into ``root`` (COCO layout), objects from CIFAR-10's
    ``train`` (training split) or ``test`` images, backgrounds from the other classes."""
    cifar = load_dataset(
        "cifar10-jpeg", "train" if split == "train2017" else "test", False, max_per_class=count * 2
    )
    wanted = [cifar.classes.index(c) for c in CLASSES]
    pools = [torch.nonzero(cifar.labels == c).flatten() for c in wanted]
    others = torch.nonzero(~torch.isin(cifar.labels, torch.tensor(wanted))).flatten()
    rng = np.random.default_rng(seed)
    (root / split).mkdir(parents=True)
    images, annotations = [], []
    for image_id in range(1, count + 1):
        labels = rng.integers(0, len(CLASSES), int(rng.integers(1, 4)))
        objects = [cifar.images[pools[c][rng.integers(len(pools[c]))]] for c in labels]
        background = cifar.images[others[rng.integers(len(others))]]
        canvas, placed = _compose(rng, background, objects, size)
        name = f"{image_id:06d}.png"
        Image.fromarray(canvas).save(root / split / name)
        images.append({"id": image_id, "file_name": name, "height": size, "width": size})
        for k, mask in placed:
            ann_id = len(annotations) + 1
            annotations.append(_annotation(mask, ann_id, image_id, int(labels[k]) + 1))
    categories = [{"id": i + 1, "name": c} for i, c in enumerate(CLASSES)]
    (root / "annotations").mkdir(exist_ok=True)
    content = {"images": images, "annotations": annotations, "categories": categories}
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(content))


def build_pasted_coco(
    root: str | os.PathLike, *, train: int = 256, test: int = 64, size: int = 128, seed: int = 0
) -> Path:
    """Write the set (``train`` + ``test`` images of ``size`` px) to ``root`` unless it is there;
    built in a temporary folder beside it and renamed, so that a partial set is never found."""
    root = Path(root)
    if root.exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        write_split(work, "train2017", train, seed, size)
        write_split(work, "val2017", test, seed + 1, size)
        os.replace(work, root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return root


def pasted_root() -> Path:
    """Where the built-in ``cifar10-pasted`` set lives (built there on first use)."""
    return build_pasted_coco(user_data_dir() / NAME)
