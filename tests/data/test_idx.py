"""The idx (MNIST / Fashion-MNIST) reader on files written here, plain and gzipped."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from tests.data.formats import write_idx, write_idx_split

from attnzoo.data import DatasetError, load_dataset, read_idx

IMAGES = np.arange(4 * 28 * 28).reshape(4, 28, 28) % 251
LABELS = np.array([9, 0, 4, 0])


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_images_labels_and_classes(tmp_path, suffix):
    write_idx_split(tmp_path, IMAGES, LABELS, suffix=suffix)
    data = read_idx(tmp_path, "test")
    assert data.images.shape == (4, 1, 28, 28)
    assert data.images[:, 0].numpy().tolist() == IMAGES.tolist()
    assert data.labels.tolist() == LABELS.tolist()
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"


def test_classes_override_and_max_per_class(tmp_path):
    write_idx_split(tmp_path, IMAGES, LABELS, prefix="train")
    digits = tuple("0123456789")
    data = read_idx(tmp_path, "train", classes=digits, max_per_class=1)
    assert data.classes == digits
    assert data.labels.tolist() == [9, 0, 4]  # the second 0 is dropped
    assert data.images[1, 0].numpy().tolist() == IMAGES[1].tolist()


def test_bad_magic(tmp_path):
    write_idx_split(tmp_path, IMAGES, LABELS)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", IMAGES, 2049)
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte: expected .*2051, got 2049"):
        read_idx(tmp_path, "test")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_file(tmp_path, suffix):
    write_idx_split(tmp_path, IMAGES, LABELS, suffix=suffix)
    path = tmp_path / f"t10k-images-idx3-ubyte{suffix}"
    path.write_bytes(path.read_bytes()[:-5])  # a truncated gzip stream or a short data block
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte"):
        read_idx(tmp_path, "test")


def test_corrupt_gzip(tmp_path):
    write_idx_split(tmp_path, IMAGES, LABELS, suffix=".gz")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 30)
    with pytest.raises(DatasetError, match=r"cannot read .*t10k-labels"):
        read_idx(tmp_path, "test")


def test_counts_must_agree(tmp_path):
    write_idx_split(tmp_path, IMAGES, LABELS[:3])
    with pytest.raises(DatasetError, match=r"4 images but .* 3 labels"):
        read_idx(tmp_path, "test")


def test_labels_beyond_the_classes(tmp_path):
    write_idx_split(tmp_path, IMAGES, np.array([1, 2, 3, 10]))
    with pytest.raises(DatasetError, match="label 10 but only 10 classes"):
        read_idx(tmp_path, "test")


def test_missing_files(tmp_path):
    write_idx_split(tmp_path, IMAGES, LABELS)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        read_idx(tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_idx(tmp_path / "nowhere", "test")


FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not (FASHION_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST not installed (Debian package dataset-fashion-mnist)",
)
def test_installed_fashion_mnist():
    test = load_dataset("fashion-mnist", "test")
    assert test.images.shape == (10_000, 1, 28, 28)
    assert test.labels.bincount().tolist() == [1000] * 10
    # The first test image is an ankle boot in every copy of the dataset.
    assert test.classes[int(test.labels[0])] == "Ankle boot"
    with gzip.open(FASHION_MNIST / "t10k-images-idx3-ubyte.gz") as f:
        assert f.read()[16 : 16 + 784] == test.images[0].numpy().tobytes()
