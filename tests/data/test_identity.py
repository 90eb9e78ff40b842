"""A dataset's identity: sha256 of its file, or of its folder's sorted ``path sha256`` manifest."""

import hashlib
import os
import shutil
import subprocess

import pytest
from tests.fixtures import BUNDLED_CIFAR10, write_cifar10

from attnzoo.data import dataset_identity, identity
from attnzoo.data.identity import dataset_sha256


def manifest_sha256(folder):
    """The reference: every file under ``folder``, by its ``/`` path in code-point order."""
    lines = []
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            relative = os.path.relpath(path, folder).replace(os.sep, "/")
            with open(path, "rb") as f:
                lines.append(f"{relative} {hashlib.sha256(f.read()).hexdigest()}\n")
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def write_tree(root, files):
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


TREE = {"train/cat/a.png": b"a", "train/cat-b/b.png": b"bb", "test/cat/c.png": b"c", ".hidden": b""}


def test_a_file_is_identified_by_its_bytes(tmp_path):
    path = tmp_path / "set.tar.gz"
    path.write_bytes(b"not really an archive")
    assert dataset_sha256(path) == hashlib.sha256(b"not really an archive").hexdigest()


def test_a_folder_is_identified_by_its_manifest(tmp_path):
    folder = write_tree(tmp_path / "set", TREE)
    assert dataset_sha256(folder) == manifest_sha256(folder)


@pytest.mark.skipif(not shutil.which("sha256sum"), reason="no sha256sum")
def test_the_documented_shell_command_gives_the_same_identity(tmp_path):
    folder = write_tree(tmp_path / "set", TREE)
    command = identity.__doc__.split("folder::\n\n")[1].split("\n\n")[0]
    shell = subprocess.run(
        ["bash", "-c", command], cwd=folder, capture_output=True, text=True, check=True
    )
    assert shell.stdout.split()[0] == dataset_sha256(folder)


def test_a_changed_byte_changes_the_identity_and_the_cache_follows(tmp_path, monkeypatch):
    folder = write_tree(tmp_path / "set", TREE)
    before = dataset_sha256(folder)
    monkeypatch.setattr(identity, "content_sha256", lambda path: pytest.fail("not cached"))
    assert dataset_sha256(folder) == before  # the second call only stats
    monkeypatch.undo()
    (folder / "test/cat/c.png").write_bytes(b"d")
    assert dataset_sha256(folder) == manifest_sha256(folder) != before


def test_a_cifar_folder_counts_alone_and_a_built_in_name_is_resolved(tmp_path, monkeypatch):
    cifar = write_cifar10(tmp_path)
    (tmp_path / "unrelated.txt").write_text("not part of the dataset")
    assert dataset_identity(tmp_path) == dataset_identity(cifar) == manifest_sha256(cifar)
    monkeypatch.setenv("ATTNZOO_DATA_DIR", str(tmp_path))
    assert dataset_identity("cifar10") == manifest_sha256(cifar)


@pytest.mark.skipif(not BUNDLED_CIFAR10.is_file(), reason="bundled CIFAR-10 archive missing")
def test_the_bundled_archive_is_its_sha256sum():
    expected = hashlib.sha256(BUNDLED_CIFAR10.read_bytes()).hexdigest()
    assert dataset_identity(BUNDLED_CIFAR10) == expected


def test_a_missing_dataset_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such"):
        dataset_identity(tmp_path / "no-such")
