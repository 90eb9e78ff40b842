"""Pascal VOC detection data in its official layout, read with the standard library.

Layout (the devkit's, as its archives unpack): ``VOCdevkit/VOC{year}/Annotations/{id}.xml``,
``JPEGImages/{id}.jpg`` and ``ImageSets/Main/{train,val,trainval,test}.txt``. Built-in names,
looked up as ``VOCdevkit/`` in the data directories (:mod:`.places`), never downloaded:

- ``voc0712``: trains on VOC2007 trainval + VOC2012 trainval (16,551 images), tests on VOC2007
  test (4,952): the BA2M paper's detection setting (section IV-C) and MMDetection's ``voc0712``;
- ``voc2007``: VOC2007 trainval -> VOC2007 test.

``data: PATH`` to a ``VOCdevkit`` folder (one holding ``VOC2007/``) is ``voc0712`` when it holds
``VOC2012/`` too, else ``voc2007``. Splits: ``train``, ``test`` or an image set
``VOC{year}/{set}`` (``evaluate_checkpoint(split="VOC2012/val")``).

Conventions are MMDetection's (``XMLDataset``, 1.x to 3.x), the paper's framework:

- the 20 classes in the devkit's order (:data:`CLASSES`), labels 1..20 (0 is background);
- a box's 1-based inclusive pixel corners become ``int(float(v)) - 1`` each: (xmin - 1, ymin - 1,
  xmax - 1, ymax - 1), so a box is one pixel narrower than the pixels it covers. The VOC metric
  (:mod:`attnzoo.engine.voc_eval`) measures widths as ``x2 - x1 + 1`` as the devkit does, so on
  these coordinates it computes the devkit's overlaps exactly. (Detectron2 instead keeps the
  covered pixels, (xmin - 1, ymin - 1, xmax, ymax), and trains on difficult objects too.)
- ``difficult`` objects are left out of the training targets (MMDetection's ``ignore_flag``,
  which its detectors do not train on) and kept in :attr:`VocDetection.objects`, where the
  evaluation ignores them as the devkit does;
- training skips images without any object (``filter_empty_gt``); an image whose objects are
  all difficult stays, with no box to learn. MMDetection 3.x's ``voc0712`` also ignores boxes
  under 32 px and images under 32 px (``bbox_min_size``, ``min_size``); 2.x, as here, does not.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .coco import Target, read_rgb
from .dataset import DatasetError
from .places import data_dirs

CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
NAMES = {
    "voc0712": (("VOC2007", "trainval"), ("VOC2012", "trainval")),
    "voc2007": (("VOC2007", "trainval"),),
}
TEST = (("VOC2007", "test"),)
ImageSet = tuple[Path, str]  # a year's folder (VOCdevkit/VOC2007) and an image set (trainval)


def is_voc(source: str | os.PathLike) -> bool:
    """Whether ``source`` names Pascal VOC: a built-in VOC name or a folder holding ``VOC2007/``."""
    return str(source) in NAMES or (Path(source) / "VOC2007").is_dir()


def _wanted(source: str | os.PathLike, split: str) -> tuple[tuple[str, str], ...]:
    """The (year, image set) pairs of ``split`` (train, test or VOC{year}/{set}) of ``source``."""
    if split == "test":
        return TEST
    if split == "train":
        if str(source) in NAMES:
            return NAMES[str(source)]
        return NAMES["voc0712" if (Path(source) / "VOC2012").is_dir() else "voc2007"]
    year, _, image_set = split.partition("/")
    if not (year.startswith("VOC") and image_set):
        raise DatasetError(f"VOC split {split!r}: expected train, test or VOC<year>/<set>")
    return ((year, image_set),)


def find_voc(source: str | os.PathLike, split: str) -> list[ImageSet]:
    """The image sets of ``split`` of ``source`` (see the module docstring); missing: one line
    naming the places searched and how to get the data."""
    wanted = _wanted(source, split)
    named = str(source) in NAMES
    roots = [d / "VOCdevkit" for d in data_dirs()] if named else [Path(source)]
    for root in roots:
        if all((root / y / "ImageSets" / "Main" / f"{s}.txt").is_file() for y, s in wanted):
            return [(root / y, s) for y, s in wanted]
    files = " and ".join(f"{y}/ImageSets/Main/{s}.txt" for y, s in wanted)
    raise FileNotFoundError(
        f"Pascal VOC not found: no {files} in {', '.join(str(r) for r in roots)}; get VOC2007 "
        "trainval and test and VOC2012 trainval from http://host.robots.ox.ac.uk/pascal/VOC/ and "
        "unpack them there (they unpack into VOCdevkit/), or give data: PATH/VOCdevkit"
    )


@dataclass(frozen=True)
class VocObjects:
    """One image's objects: ``boxes`` (n, 4) float32 x1, y1, x2, y2 (module docstring),
    ``labels`` (n,) int64 in 1..20, ``difficult`` (n,) bool; and the image's ``width`` and
    ``height`` as its annotation states them (0 where it does not)."""

    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray
    width: int = 0
    height: int = 0


def _object(obj: ET.Element) -> tuple[list[float], int, bool]:
    name = (obj.findtext("name") or "").strip()
    if name not in CLASSES:
        raise DatasetError(f"unknown class {name!r}")
    box = obj.find("bndbox")
    if box is None:
        raise DatasetError(f"object {name!r} has no bndbox")
    text = [box.findtext(k) for k in ("xmin", "ymin", "xmax", "ymax")]
    if None in text:
        raise DatasetError(f"object {name!r}: bndbox needs xmin, ymin, xmax and ymax")
    corners = [int(float(v)) - 1 for v in text]  # MMDetection's rounding and shift
    return corners, CLASSES.index(name) + 1, (obj.findtext("difficult") or "0").strip() == "1"


def parse_annotation(path: Path) -> VocObjects:
    """The objects of one VOC XML file; unreadable or malformed: one line naming it."""
    try:
        root = ET.parse(path).getroot()
        parsed = [_object(obj) for obj in root.findall("object")]
        width, height = (int(float(root.findtext(f"size/{k}") or 0)) for k in ("width", "height"))
    except (OSError, ET.ParseError, ValueError) as err:
        raise DatasetError(f"{path}: not a VOC annotation ({err})") from None
    boxes = np.array([p[0] for p in parsed], dtype=np.float32).reshape(-1, 4)
    labels = np.array([p[1] for p in parsed], dtype=np.int64)
    difficult = np.array([p[2] for p in parsed], dtype=bool)
    return VocObjects(boxes, labels, difficult, width, height)


def _image_ids(folder: Path, image_set: str) -> list[str]:
    path = folder / "ImageSets" / "Main" / f"{image_set}.txt"
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


class VocDetection:
    """The images and objects of one or more VOC image sets, as :class:`.coco.CocoDetection`
    gives them to :class:`.coco.DetectionLoader` and the detectors: uint8 (3, H, W) images and
    targets of ``boxes``, ``labels`` and ``image_id`` (the image's index here). Targets hold the
    non-difficult objects; :attr:`objects` holds them all, for the evaluation."""

    def __init__(self, image_sets: list[ImageSet], *, train: bool) -> None:
        self.classes = list(CLASSES)
        self.category_ids = list(range(1, len(CLASSES) + 1))
        self.train = train
        self.paths: list[Path] = []
        self.objects: list[VocObjects] = []
        for folder, image_set in image_sets:
            for stem in _image_ids(folder, image_set):
                objects = parse_annotation(folder / "Annotations" / f"{stem}.xml")
                if train and not len(objects.labels):
                    continue
                self.paths.append(folder / "JPEGImages" / f"{stem}.jpg")
                self.objects.append(objects)
        self.ids = list(range(len(self.paths)))

    def __len__(self) -> int:
        return len(self.paths)

    def aspect_ratios(self) -> list[float]:
        """Each image's width / height, from its annotation's ``size`` (the image's header
        where the annotation has none), for aspect-ratio grouping."""
        ratios = []
        for path, objects in zip(self.paths, self.objects, strict=True):
            width, height = objects.width, objects.height
            if not (width and height):
                with Image.open(path) as image:  # reads the header, not the pixels
                    width, height = image.size
            ratios.append(width / height)
        return ratios

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Target]:
        objects = self.objects[index]
        keep = ~objects.difficult
        target = {
            "boxes": torch.from_numpy(objects.boxes[keep]),
            "labels": torch.from_numpy(objects.labels[keep]),
            "image_id": torch.tensor(index),
        }
        return read_rgb(self.paths[index]), target
