"""Small datasets written here in each real on-disk format, for the reader tests."""

from __future__ import annotations

import gzip
import io
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
