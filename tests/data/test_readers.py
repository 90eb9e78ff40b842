"""The readers on small files written here in each real on-disk format."""

import gzip
import io
import os
import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image
from tests.fixtures import BUNDLED_CIFAR10, write_cifar10

from attnzoo.data import DatasetError, load_dataset, read_cifar, read_idx, read_image_folder
from attnzoo.data import image_folder as image_folder_module


def test_cifar10_layout_labels_and_classes(tmp_path):
    folder = write_cifar10(tmp_path, per_batch=4)
    raw = pickle.loads((folder / "data_batch_2").read_bytes())
    train = read_cifar(tmp_path, "train")
    assert train.images.shape == (20, 3, 32, 32) and train.classes[3] == "class3"
    # Row 1 of batch 2 is image 5; its value at (channel 2, row 7, col 9) sits at 2*1024 + 7*32 + 9.
    assert train.images[5, 2, 7, 9] == raw[b"data"][1, 2 * 1024 + 7 * 32 + 9]
    assert train.labels[4:8].tolist() == raw[b"labels"]
    assert len(read_cifar(folder, "test")) == 4


def write_cifar100(root, n=6):
    folder = root / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        batch = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"fine_labels": [i % 100 for i in range(n)],
            b"coarse_labels": [i % 20 for i in range(n)],
        }
        (folder / split).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {
        b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)],
    }
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def test_cifar100_fine_and_coarse(tmp_path):
    write_cifar100(tmp_path)
    fine = load_dataset(tmp_path, "train")
    assert fine.num_classes == 100 and fine.classes[5] == "fine5"
    coarse = read_cifar(tmp_path, "test", label_kind="coarse")
    assert coarse.num_classes == 20 and coarse.labels.tolist() == list(range(6))


def test_truncated_pickle_is_a_clear_error(tmp_path):
    folder = write_cifar10(tmp_path)
    data = (folder / "data_batch_3").read_bytes()
    (folder / "data_batch_3").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="data_batch_3"):
        read_cifar(tmp_path, "train")


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    folder = write_cifar10(tmp_path)
    Exploit.marker = tmp_path / "pwned"
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Exploit()}, protocol=2))
    with pytest.raises(DatasetError, match="refusing to load"):
        read_cifar(tmp_path, "test")
    assert not Exploit.marker.exists()


def png(colour, size=(4, 3)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


TREE = {
    "test/cat/b.png": (10, 20, 30),
    "test/cat/a.png": (40, 50, 60),
    "test/ant/z.png": (70, 80, 90),
    "train/ant/x.png": (1, 2, 3),
}


def write_tree(root, files=TREE):
    for name, colour in files.items():
        path = root / "set" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png(colour) if isinstance(colour, tuple) else colour)
    return root / "set"


def write_tar(path, files=TREE):
    with tarfile.open(path, "w:gz") as tar:
        for name, colour in files.items():
            data = png(colour)
            info = tarfile.TarInfo(f"set/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("kind", ["dir", "tar"])
def test_image_folder(tmp_path, kind):
    path = write_tree(tmp_path) if kind == "dir" else write_tar(tmp_path / "set.tar.gz")
    test = read_image_folder(path, "test")
    assert test.classes == ("ant", "cat")
    assert test.labels.tolist() == [0, 1, 1]
    assert test.images.shape == (3, 3, 3, 4)  # (N, C, H, W) of 4x3 images
    assert test.images[1, :, 0, 0].tolist() == [40, 50, 60]  # cat/a.png before cat/b.png
    first = read_image_folder(path, "test", max_per_class=1)
    assert first.labels.tolist() == [0, 1] and first.images[1, 0, 0, 0] == 40


def test_image_folder_cache_is_used(tmp_path, monkeypatch):
    path = write_tar(tmp_path / "set.tar.gz")
    read_image_folder(path, "test")

    def fail(*args):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(image_folder_module, "_decode_folder", fail)
    assert len(read_image_folder(path, "test")) == 3


def test_image_folder_errors(tmp_path):
    mixed = write_tree(tmp_path / "mixed", {**TREE, "test/cat/c.png": png((0, 0, 0), (5, 5))})
    with pytest.raises(DatasetError, match=r"c\.png.*one size"):
        read_image_folder(mixed, "test")
    broken = write_tree(tmp_path / "broken", {**TREE, "test/cat/c.png": png((0, 0, 0))[:40]})
    with pytest.raises(DatasetError, match=r"c\.png"):
        read_image_folder(broken, "test")
    empty = write_tree(tmp_path / "empty")
    (empty / "test" / "dog").mkdir()
    with pytest.raises(DatasetError, match="dog"):
        read_image_folder(empty, "test")
    with pytest.raises(DatasetError, match="no 'val/<class>/'"):
        read_image_folder(empty, "val")
    with pytest.raises(FileNotFoundError, match="missing"):
        read_image_folder(tmp_path / "missing", "test")
    archive = write_tar(tmp_path / "set.tar.gz")
    archive.write_bytes(archive.read_bytes()[:60])
    with pytest.raises(DatasetError, match="corrupt or truncated archive"):
        read_image_folder(archive, "test")


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="built-in names: cifar10"):
        load_dataset("imagenet-21k", "train")


@pytest.mark.skipif(not BUNDLED_CIFAR10.is_file(), reason="bundled CIFAR-10 archive missing")
def test_bundled_cifar10():
    test = load_dataset("cifar10", "test", max_per_class=5)
    assert test.images.shape == (50, 3, 32, 32)
    assert test.classes == (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )
    assert test.labels.bincount().tolist() == [5] * 10


def write_idx(path, array, magic, compress=False):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_reader(tmp_path, compress):
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    suffix = ".gz" if compress else ""
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images, 2051, compress)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", np.array([9, 0, 4]), 2049, compress)
    data = read_idx(tmp_path, "test")
    assert data.images.shape == (3, 1, 28, 28)
    assert data.images[2, 0].numpy().tolist() == images[2].tolist()
    assert data.labels.tolist() == [9, 0, 4] and data.classes[9] == "Ankle boot"


def test_idx_errors(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28)), 2049)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2), 2049)
    with pytest.raises(DatasetError, match="magic number 2051"):
        read_idx(tmp_path, "test")
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28)), 2051)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="train-images"):
        read_idx(tmp_path, "train")
