"""load_dataset: built-in names, format detection by path, options checked against the reader."""

import numpy as np
import pytest
from tests.data.formats import write_cifar100, write_idx_split, write_tar, write_tree
from tests.fixtures import BUNDLED_CIFAR10, write_cifar10

from attnzoo.data import DatasetError, list_datasets, load_dataset, registry

CIFAR10_CLASSES = (
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


def test_list_datasets():
    assert list_datasets() == ["cifar10", "cifar10-jpeg", "cifar100", "fashion-mnist"]


def test_formats_are_detected(tmp_path):
    assert load_dataset(write_tar(tmp_path / "set.tgz"), "test").classes == ("ant", "cat")
    assert load_dataset(write_tree(tmp_path / "tree"), "test").classes == ("ant", "cat")
    write_cifar10(tmp_path / "c10", per_batch=3)
    assert load_dataset(tmp_path / "c10", "test").classes[0] == "class0"
    write_cifar100(tmp_path / "c100")
    assert load_dataset(str(tmp_path / "c100"), "test").num_classes == 100
    idx = write_idx_split(tmp_path / "idx", np.zeros((2, 28, 28)), np.array([3, 5]), suffix=".gz")
    assert load_dataset(idx, "test").images.shape == (2, 1, 28, 28)


def test_options_reach_the_reader(tmp_path):
    write_cifar100(tmp_path, n=40)
    coarse = load_dataset(tmp_path, "train", label_kind="coarse", max_per_class=1)
    assert coarse.num_classes == 20 and coarse.labels.tolist() == list(range(20))


def test_unknown_option_is_named(tmp_path):
    write_cifar10(tmp_path, per_batch=2)
    with pytest.raises(ValueError, match=r"read_cifar .* does not take the option\(s\) cache_dir"):
        load_dataset(tmp_path, "test", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="label_kind"):
        load_dataset(write_tar(tmp_path / "set.tar.gz"), "test", label_kind="fine")


def test_unknown_name_lists_the_built_in_ones():
    with pytest.raises(
        FileNotFoundError,
        match=r"not found: imagenet-21k .*\(cifar10, cifar10-jpeg, cifar100, fashion-mnist\)",
    ):
        load_dataset("imagenet-21k", "train")


def test_unrecognised_file(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0" * 10)
    with pytest.raises(DatasetError, match="unknown dataset format"):
        load_dataset(tmp_path / "weights.bin", "train")


def test_data_dir_environment_variable(tmp_path, monkeypatch):
    write_tar(tmp_path / "cifar10-jpeg.tar.gz")
    monkeypatch.setenv("ATTNZOO_DATA_DIR", str(tmp_path))
    assert load_dataset("cifar10-jpeg", "test").classes == ("ant", "cat")


@pytest.mark.skipif(not BUNDLED_CIFAR10.is_file(), reason=f"{BUNDLED_CIFAR10} is absent")
def test_bundled_cifar10(tmp_path, monkeypatch):
    monkeypatch.delenv("ATTNZOO_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # so that ./data cannot shadow the checkout's archive
    test = load_dataset("cifar10-jpeg", "test", max_per_class=5, cache_dir=tmp_path / "cache")
    assert test.images.shape == (50, 3, 32, 32)
    assert test.classes == CIFAR10_CLASSES
    assert test.labels.tolist() == [c for c in range(10) for _ in range(5)]
    # Real photographs: neither blank nor identical.
    assert test.images.float().std() > 20 and len(test.images.flatten(1).unique(dim=0)) == 50


def test_per_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("ATTNZOO_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    (tmp_path / "share" / "attnzoo").mkdir(parents=True)
    write_tar(tmp_path / "share" / "attnzoo" / "cifar10-jpeg.tar.gz")
    assert load_dataset("cifar10-jpeg", "test").classes == ("ant", "cat")


def test_missing_built_in_names_the_places_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNZOO_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    with pytest.raises(FileNotFoundError) as caught:
        load_dataset("cifar100", "test", download=False)
    message = str(caught.value)
    assert str(tmp_path / "nowhere") in message and str(tmp_path / "share" / "attnzoo") in message
    assert "cs.toronto.edu" in message and "--data PATH" in message
    assert "run without --no-download" in message


def test_the_jpeg_copy_is_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNZOO_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(registry, "data_dirs", lambda: [tmp_path / "nowhere"])
    with pytest.raises(FileNotFoundError) as caught:
        load_dataset("cifar10-jpeg", "test")
    message = str(caught.value)
    assert "ships in the repository's data/ folder" in message
    assert "--no-download" not in message and not (tmp_path / "nowhere").exists()


def test_official_cifar10_is_the_unpacked_folder_in_a_data_dir(tmp_path, monkeypatch):
    write_cifar10(tmp_path / "data", per_batch=3)
    write_tar(tmp_path / "data" / "cifar10-jpeg.tar.gz")
    monkeypatch.setenv("ATTNZOO_DATA_DIR", str(tmp_path / "data"))
    assert load_dataset("cifar10", "test", download=False).classes[0] == "class0"
    assert load_dataset("cifar10-jpeg", "test").classes == ("ant", "cat")


def test_fashion_mnist_data_dirs_first_then_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNZOO_DATA_DIR", str(tmp_path / "data"))
    debian = write_idx_split(tmp_path / "deb", np.zeros((1, 28, 28)), np.array([7]), suffix=".gz")
    monkeypatch.setattr(registry, "DEBIAN_FASHION_MNIST", debian)
    assert load_dataset("fashion-mnist", "test", download=False).labels.tolist() == [7]
    own = tmp_path / "data" / "fashion-mnist"
    write_idx_split(own, np.zeros((2, 28, 28)), np.array([1, 2]), suffix=".gz")
    assert load_dataset("fashion-mnist", "test", download=False).labels.tolist() == [1, 2]
