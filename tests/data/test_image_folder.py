"""The ImageFolder reader on PNG trees of known colours, as directories and .tar.gz archives."""

import pytest
from tests.data.formats import TREE, png, write_tar, write_tree

from attnzoo.data import DatasetError, read_image_folder
from attnzoo.data import image_folder as image_folder_module


@pytest.fixture(params=["dir", "dir-with-top", "tar", "tar-with-top"])
def source(request, tmp_path):
    """TREE with the split folders at the top or one folder down."""
    kind = request.param
    if kind == "dir":
        return write_tree(tmp_path / "set")
    if kind == "dir-with-top":
        write_tree(tmp_path / "set" / "inner")
        return tmp_path / "set"
    return write_tar(tmp_path / "set.tar.gz", top="inner" if kind == "tar-with-top" else "")


def test_classes_order_and_pixels(source, tmp_path):
    test = read_image_folder(source, "test", cache_dir=tmp_path / "cache")
    assert test.classes == ("ant", "cat")
    assert test.labels.tolist() == [0, 1, 1]
    assert test.images.shape == (3, 3, 3, 4)  # (N, C, H, W) of 4x3 images
    colours = [tuple(image[:, 2, 3].tolist()) for image in test.images]
    assert colours == [(70, 80, 90), (40, 50, 60), (10, 20, 30)]  # cat/a.png before cat/b.png
    train = read_image_folder(source, "train", cache_dir=tmp_path / "cache")
    assert train.classes == ("ant",) and train.images[0, :, 0, 0].tolist() == [1, 2, 3]


def test_max_per_class_keeps_the_first_files_by_name(source, tmp_path):
    first = read_image_folder(source, "test", max_per_class=1, cache_dir=tmp_path / "cache")
    assert first.labels.tolist() == [0, 1]
    assert first.images[1, :, 0, 0].tolist() == [40, 50, 60]  # a.png, written after b.png
    with pytest.raises(ValueError, match="max_per_class"):
        read_image_folder(source, "test", max_per_class=0)


@pytest.mark.parametrize("kind", ["dir", "tar"])
def test_second_call_reads_the_cache(tmp_path, monkeypatch, kind):
    source = write_tree(tmp_path / "set") if kind == "dir" else write_tar(tmp_path / "set.tar.gz")
    cache = tmp_path / "cache"
    first = read_image_folder(source, "test", cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 1

    def no_decoding(data, location):
        raise AssertionError(f"decoded {location} again instead of reading the cache")

    monkeypatch.setattr(image_folder_module, "_decode", no_decoding)
    again = read_image_folder(source, "test", cache_dir=cache)
    assert again.classes == first.classes
    assert again.images.equal(first.images) and again.labels.equal(first.labels)
    with pytest.raises(AssertionError, match="decoded"):  # another limit is another cache entry
        read_image_folder(source, "test", max_per_class=1, cache_dir=cache)


def test_changed_directory_is_decoded_again(tmp_path):
    source = write_tree(tmp_path / "set")
    cache = tmp_path / "cache"
    assert len(read_image_folder(source, "test", cache_dir=cache)) == 3
    (source / "test" / "cat" / "c.png").write_bytes(png((0, 0, 0)))
    assert len(read_image_folder(source, "test", cache_dir=cache)) == 4


@pytest.mark.parametrize("damage", [b"garbage", b"PK\x03\x04truncated zip"])
def test_corrupt_cache_is_rebuilt(tmp_path, damage):
    source = write_tar(tmp_path / "set.tar.gz")
    cache = tmp_path / "cache"
    expected = read_image_folder(source, "test", cache_dir=cache)
    (cache_file,) = cache.glob("*.npz")
    cache_file.write_bytes(damage)
    rebuilt = read_image_folder(source, "test", cache_dir=cache)
    assert rebuilt.images.equal(expected.images)
    assert cache_file.read_bytes() != damage


def test_default_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNZOO_CACHE", str(tmp_path / "env-cache"))
    read_image_folder(write_tar(tmp_path / "set.tar.gz"), "test")
    assert len(list((tmp_path / "env-cache").glob("set-test-*.npz"))) == 1


def test_mixed_sizes_name_the_odd_file(tmp_path):
    source = write_tree(tmp_path / "set", {**TREE, "test/cat/c.png": png((0, 0, 0), (5, 5))})
    with pytest.raises(DatasetError, match=r"cat/c\.png is 5x5 .* one size"):
        read_image_folder(source, "test", cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("kind", ["dir", "tar"])
def test_truncated_image_is_named(tmp_path, kind):
    files = {**TREE, "test/cat/c.png": png((0, 0, 0))[:40]}
    if kind == "dir":
        source = write_tree(tmp_path / "set", files)
    else:
        source = write_tar(tmp_path / "set.tar.gz", files)
    with pytest.raises(DatasetError, match=r"unreadable or truncated image .*cat/c\.png"):
        read_image_folder(source, "test", cache_dir=tmp_path / "cache")


def test_layout_errors(tmp_path):
    source = write_tree(tmp_path / "set")
    (source / "test" / "dog").mkdir()
    with pytest.raises(DatasetError, match=r"'test/dog'.*holds no images"):
        read_image_folder(source, "test", cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match="folder name"):
        read_image_folder(source, "../test")
    with pytest.raises(DatasetError, match=r"no 'val/' folder"):
        read_image_folder(source, "val", cache_dir=tmp_path / "cache")
    archive = write_tar(tmp_path / "set.tar.gz")
    with pytest.raises(DatasetError, match=r"no 'val/<class>/' folders"):
        read_image_folder(archive, "val", cache_dir=tmp_path / "cache")


def test_missing_and_corrupt_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        read_image_folder(tmp_path / "missing.tar.gz", "test")
    archive = write_tar(tmp_path / "set.tar.gz")
    archive.write_bytes(archive.read_bytes()[:60])
    with pytest.raises(DatasetError, match=r"corrupt or truncated archive .*set\.tar\.gz"):
        read_image_folder(archive, "test", cache_dir=tmp_path / "cache")
    archive.write_bytes(b"this is not gzip data")
    with pytest.raises(DatasetError, match="corrupt or truncated archive"):
        read_image_folder(archive, "test", cache_dir=tmp_path / "cache")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="neither a directory nor"):
        read_image_folder(tmp_path / "notes.txt", "test")
