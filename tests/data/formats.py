"""Small datasets written here in each real on-disk format, for the reader tests."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def write_pickle(path: Path, obj: object) -> Path:
    """As the CIFAR files were written: protocol 2, bytes keys."""
    path.write_bytes(pickle.dumps(obj, protocol=2))
    return path


def write_cifar100(root: Path, n: int = 6) -> Path:
    """``root/cifar-100-python`` with ``n`` images per split; image i has labels i%100 and i%20."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        batch = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"fine_labels": [i % 100 for i in range(n)],
            b"coarse_labels": [i % 20 for i in range(n)],
        }
        write_pickle(folder / split, batch)
    meta = {
        b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)],
    }
    write_pickle(folder / "meta", meta)
    return folder


def png(colour: tuple[int, int, int], size: tuple[int, int] = (4, 3)) -> bytes:
    """A PNG of one colour; ``size`` is (width, height)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


# Listed out of name order on purpose: the readers must sort.
TREE: dict[str, bytes] = {
    "test/cat/b.png": png((10, 20, 30)),
    "test/cat/a.png": png((40, 50, 60)),
    "test/ant/z.png": png((70, 80, 90)),
    "test/ant/notes.txt": b"not an image",
    "train/ant/x.png": png((1, 2, 3)),
}


def write_tree(root: Path, files: dict[str, bytes] = TREE) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def write_tar(path: Path, files: dict[str, bytes] = TREE, top: str = "set") -> Path:
    """A .tar.gz of ``files`` under the folder ``top`` (none if empty), without folder members."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_idx(path: Path, array: np.ndarray, magic: int) -> Path:
    """An idx file: big-endian magic, one 32-bit size per dimension, uint8 data; .gz if so named."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_idx_split(
    root: Path, images: np.ndarray, labels: np.ndarray, prefix: str = "t10k", suffix: str = ""
) -> Path:
    """``<prefix>-images-idx3-ubyte<suffix>`` and the matching labels file in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images, 2051)
    write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", labels, 2049)
    return root


# One VOC object: class name, 1-based inclusive (xmin, ymin, xmax, ymax), difficult.
VocObject = tuple[str, tuple[int, int, int, int], bool]


def write_voc_image(
    folder: Path, stem: str, pixels: np.ndarray, objects: list[VocObject], image_sets: list[str]
) -> None:
    """One image of ``VOCdevkit/VOC<year>`` (``folder``): its JPEG, its XML as the devkit writes
    it, and its id appended to each of ``image_sets`` (ImageSets/Main/<set>.txt)."""
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(folder / "JPEGImages" / f"{stem}.jpg", quality=95)
    height, width = pixels.shape[:2]
    parts = [
        f"<annotation><folder>{folder.name}</folder><filename>{stem}.jpg</filename>",
        f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>",
    ]
    for name, (x1, y1, x2, y2), difficult in objects:
        parts.append(
            f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>"
            f"<difficult>{int(difficult)}</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
            f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        )
    (folder / "Annotations" / f"{stem}.xml").write_text("".join(parts) + "</annotation>\n")
    for image_set in image_sets:
        with open(folder / "ImageSets" / "Main" / f"{image_set}.txt", "a") as file:
            file.write(stem + "\n")


def write_voc_from_pasted(pasted: Path, devkit: Path, names: dict[str, str]) -> Path:
    """``devkit`` (a VOCdevkit) from a cifar10-pasted COCO set: its train2017 images split
    between VOC2007 and VOC2012 trainval, val2017 as VOC2007 test; classes renamed by ``names``;
    every third object difficult."""
    for split, year_of in (("train2017", lambda i: 2007 + 5 * (i % 2)), ("val2017", None)):
        content = json.loads((pasted / "annotations" / f"instances_{split}.json").read_text())
        category = {c["id"]: names[c["name"]] for c in content["categories"]}
        for image in content["images"]:
            year = year_of(image["id"]) if year_of else 2007
            objects = []
            for ann in content["annotations"]:
                if ann["image_id"] == image["id"]:
                    x, y, w, h = ann["bbox"]  # pixels x..x+w-1 are the object's
                    box = (x + 1, y + 1, x + w, y + h)
                    objects.append((category[ann["category_id"]], box, ann["id"] % 3 == 0))
            pixels = np.asarray(Image.open(pasted / split / image["file_name"]).convert("RGB"))
            sets = ["trainval"] if year_of else ["test"]
            write_voc_image(
                devkit / f"VOC{year}", f"{year}_{image['id']:06d}", pixels, objects, sets
            )
    return devkit
