"""The CIFAR reader on files written in the real pickle format, and on hostile or broken ones."""

import builtins
import codecs
import os

import numpy as np
import pytest
from tests.data.formats import write_cifar100, write_pickle
from tests.fixtures import write_cifar10

from attnzoo.data import DatasetError, read_cifar


def test_cifar10_pixel_layout_labels_and_classes(tmp_path):
    folder = write_cifar10(tmp_path, per_batch=4)
    # Image 1 of data_batch_2 (image 5 overall): two marked pixels, zeros elsewhere. A row holds the
    # R, G and B planes in turn, each 32 rows of 32 pixels.
    data = np.zeros((4, 3072), dtype=np.uint8)
    data[1, 2 * 1024 + 7 * 32 + 9] = 201  # blue, row 7, column 9
    data[1, 0 * 1024 + 0 * 32 + 31] = 77  # red, row 0, column 31
    write_pickle(folder / "data_batch_2", {b"data": data, b"labels": [3, 1, 4, 1]})

    train = read_cifar(tmp_path, "train")
    assert train.images.shape == (20, 3, 32, 32)
    assert train.images[5, 2, 7, 9] == 201 and train.images[5, 0, 0, 31] == 77
    assert int(train.images[5].sum()) == 201 + 77
    assert train.labels[4:8].tolist() == [3, 1, 4, 1]
    assert train.classes == tuple(f"class{i}" for i in range(10))
    assert len(read_cifar(folder, "test")) == 4  # the folder itself works as root too


def test_cifar100_fine_and_coarse_labels(tmp_path):
    write_cifar100(tmp_path, n=30)
    fine = read_cifar(tmp_path, "train")
    assert fine.num_classes == 100 and fine.classes[25] == "fine25"
    assert fine.labels.tolist() == list(range(30))
    coarse = read_cifar(tmp_path / "cifar-100-python", "test", label_kind="coarse")
    assert coarse.num_classes == 20 and coarse.classes[3] == "coarse3"
    assert coarse.labels.tolist() == [i % 20 for i in range(30)]
    assert len(read_cifar(tmp_path, "test", label_kind="coarse", max_per_class=1)) == 20


def test_label_kind_is_checked(tmp_path):
    write_cifar10(tmp_path / "ten", per_batch=2)
    with pytest.raises(ValueError, match="CIFAR-100 only"):
        read_cifar(tmp_path / "ten", "test", label_kind="coarse")
    write_cifar100(tmp_path / "hundred")
    with pytest.raises(ValueError, match="'fine' or 'coarse'"):
        read_cifar(tmp_path / "hundred", "test", label_kind="superclass")


def test_truncated_pickle_names_the_file(tmp_path):
    folder = write_cifar10(tmp_path, per_batch=4)
    path = folder / "data_batch_3"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="data_batch_3"):
        read_cifar(tmp_path, "train")


def test_wrong_layout_names_the_file(tmp_path):
    folder = write_cifar10(tmp_path, per_batch=4)
    bad = {b"data": np.zeros((4, 1024), np.uint8), b"labels": [0, 1, 2, 3]}
    write_pickle(folder / "test_batch", bad)
    with pytest.raises(DatasetError, match=r"test_batch.*3072"):
        read_cifar(tmp_path, "test")
    write_pickle(folder / "test_batch", {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0]})
    with pytest.raises(DatasetError, match=r"test_batch: 4 images"):
        read_cifar(tmp_path, "test")
    write_pickle(folder / "test_batch", [1, 2, 3])
    with pytest.raises(DatasetError, match="expected a dict"):
        read_cifar(tmp_path, "test")


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_cifar(tmp_path / "nowhere", "train")
    with pytest.raises(DatasetError, match="no CIFAR python-format data"):
        read_cifar(tmp_path, "train")
    folder = write_cifar10(tmp_path, per_batch=2)
    (folder / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_4"):
        read_cifar(tmp_path, "train")


class Exploit:
    """Unpickling an instance calls ``call(*args)``: the classic pickle code execution."""

    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


@pytest.mark.parametrize("kind", ["os.system", "builtins.exec"])
def test_malicious_pickle_is_refused_and_not_run(tmp_path, kind):
    folder = write_cifar10(tmp_path, per_batch=2)
    marker = tmp_path / "pwned"
    exploit = {
        "os.system": Exploit(os.system, f"touch {marker}"),
        "builtins.exec": Exploit(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
    }[kind]
    write_pickle(folder / "test_batch", {b"data": exploit, b"labels": [0, 1]})
    with pytest.raises(DatasetError, match=r"test_batch.*refusing to load"):
        read_cifar(tmp_path, "test")
    assert not marker.exists()


def test_codecs_encode_is_limited_to_latin1(tmp_path):
    # Allowed for bytes in protocol 2, but not as a gateway to other codecs.
    folder = write_cifar10(tmp_path, per_batch=2)
    write_pickle(folder / "test_batch", {b"data": Exploit(codecs.encode, "abc", "rot13")})
    with pytest.raises(DatasetError, match="rot13"):
        read_cifar(tmp_path, "test")
