"""StreamLoader and the ImageNet-layout scanner, on small real JPEG/PNG trees."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.data.test_loader import assert_shards_match_single

from attnzoo.data import (
    DatasetError,
    RandomResizedCropFlip,
    ShardedLoader,
    StreamLoader,
    open_stream,
    random_resized_box,
    scan_image_folder,
)

CLASSES = ["ant", "bee", "cat"]
# (width, height) of each class's images: non-square both ways, and square.
SIZES = [(20, 14), (13, 22), (18, 18)]
FLAT = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}  # outputs are pixels / 255


def noise(width: int, height: int, seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def write_split(folder: Path, classes=CLASSES) -> None:
    """Each class: a JPEG, a PNG and a second JPEG; ant's PNG is grayscale, bee's JPEG CMYK."""
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for k, (width, height) in enumerate(SIZES):
            image = noise(width, height, seed=10 * c + k)
            if (c, k) == (0, 1):
                image = image.convert("L")
            elif (c, k) == (1, 0):
                image = image.convert("CMYK")
            image.save(folder / name / f"img{k}.{'png' if k == 1 else 'jpg'}")
        (folder / name / "notes.txt").write_text("not an image")
        (folder / name / "._img0.jpg").write_bytes(b"macOS resource fork, hidden")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_split(tmp_path / "train")
    write_split(tmp_path / "val")
    return tmp_path


def loader_for(root: Path, batch_size: int = 4, split: str = "train", **options) -> StreamLoader:
    samples, classes = open_stream(root, split)
    options = {"train": split == "train", "num_workers": 0, "image_size": 8, **options}
    return StreamLoader(samples, classes, batch_size, **options)


def as_pixels(images: torch.Tensor) -> np.ndarray:
    """Loader output made with ``FLAT`` statistics back to uint8 (N, H, W, C)."""
    return (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def test_scan_sorts_classes_and_files_and_skips_the_rest(root):
    samples, classes = scan_image_folder(root / "train")
    assert classes == CLASSES
    assert [(path.relative_to(root).as_posix(), label) for path, label in samples] == [
        (f"train/{name}/img{k}.{'png' if k == 1 else 'jpg'}", c)
        for c, name in enumerate(CLASSES)
        for k in range(3)
    ]


def test_open_stream_reads_val_or_else_test(root):
    samples, classes = open_stream(root, "test")
    assert classes == CLASSES and samples[0][0] == root / "val" / "ant" / "img0.jpg"
    (root / "val").rename(root / "test")
    assert open_stream(root, "test")[0][0][0] == root / "test" / "ant" / "img0.jpg"
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        open_stream(root, "val")


def test_scan_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset not found"):
        scan_image_folder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="dataset not found"):
        open_stream(tmp_path / "missing", "train")
    (tmp_path / "file").write_text("")
    with pytest.raises(DatasetError, match="file is not a directory"):
        open_stream(tmp_path / "file", "train")
    with pytest.raises(DatasetError, match="has no train/ folder"):
        open_stream(tmp_path, "train")
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetError, match="has no class folders"):
        open_stream(tmp_path, "train")
    write_split(tmp_path / "train")
    (tmp_path / "train" / "dog").mkdir()
    (tmp_path / "train" / "dog" / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetError, match=r"class folder .*train/dog holds no images"):
        scan_image_folder(tmp_path / "train")
    (tmp_path / "train" / "dog" / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    with pytest.raises(
        DatasetError, match=r"dog/gone\.jpg is named as an image but is no readable"
    ):
        scan_image_folder(tmp_path / "train")


def test_mismatched_class_folders(root):
    (root / "val" / "dog").mkdir()
    noise(8, 8, 0).save(root / "val" / "dog" / "a.jpg")
    for split in ("train", "test"):
        with pytest.raises(DatasetError, match=r"has [34] class folders and .* has [34]; .*: dog$"):
            open_stream(root, split)


def test_batches_every_sample_once_with_rgb_images(root):
    loader = loader_for(root, train=False, device="cpu", **FLAT)
    assert isinstance(loader, ShardedLoader)
    assert (loader.classes, loader.num_classes, len(loader.samples)) == (tuple(CLASSES), 3, 9)
    assert (loader.mean, loader.std) == (FLAT["mean"], FLAT["std"])
    batches = list(loader)
    assert [len(labels) for _, labels in batches] == [4, 4, 1] and len(loader) == 3
    images = torch.cat([x for x, _ in batches])
    labels = torch.cat([y for _, y in batches])
    assert images.shape == (9, 3, 8, 8) and images.dtype == torch.float32
    assert images.device.type == labels.device.type == "cpu" and labels.dtype == torch.int64
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    grayscale = images[1]  # ant/img1.png
    assert torch.equal(grayscale[0], grayscale[1]) and torch.equal(grayscale[1], grayscale[2])


def test_normalisation_uses_mean_and_std(root):
    flat = torch.cat([x for x, _ in loader_for(root, train=False, **FLAT)])
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    normalised = torch.cat([x for x, _ in loader_for(root, train=False, mean=mean, std=std)])
    expected = (flat - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    torch.testing.assert_close(normalised, expected)


def gradient(width: int, height: int) -> np.ndarray:
    """An image whose pixels all differ, so that any shift of a crop shows."""
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    return np.stack([x * 6, y * 10, (x + y) * 3], axis=-1).astype(np.uint8)


def eval_pixels(root: Path, pixels: np.ndarray, **options) -> np.ndarray:
    """The loader's evaluation crop of the single image ``pixels``."""
    (root / "val" / "only").mkdir(parents=True)
    Image.fromarray(pixels).save(root / "val" / "only" / "image.png")
    loader = loader_for(root, 1, "test", **options, **FLAT)
    return as_pixels(next(iter(loader))[0])[0]


def test_eval_crop_is_the_centre_of_the_resized_image(tmp_path):
    # Shorter side already 24: no resampling, so the crop is plain slicing; 41 - 16 is odd.
    pixels = gradient(41, 24)
    crop = eval_pixels(tmp_path / "a", pixels, image_size=16, resize_size=24)
    np.testing.assert_array_equal(crop, pixels[4:20, 12:28])
    # Shorter side 24 -> 12: a 40x24 image becomes 20x12, whose centre 8x8 is at (6, 2).
    pixels = gradient(40, 24)
    crop = eval_pixels(tmp_path / "b", pixels, image_size=8, resize_size=12)
    resized = Image.fromarray(pixels).resize((20, 12), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(crop, np.asarray(resized.crop((6, 2, 14, 10))))


def test_random_resized_boxes_lie_inside_the_image():
    for seed in range(200):
        rng = np.random.default_rng(seed)
        width, height = int(rng.integers(1, 60)), int(rng.integers(1, 60))
        left, top, right, bottom = random_resized_box(
            width, height, (0.08, 1.0), (3 / 4, 4 / 3), rng
        )
        assert 0 <= left < right <= width and 0 <= top < bottom <= height
    boxes = {
        random_resized_box(50, 40, (0.08, 1.0), (0.75, 4 / 3), np.random.default_rng(s))
        for s in range(20)
    }
    assert len(boxes) > 15


def test_random_resized_box_falls_back_to_a_centred_crop():
    # A whole-area square never fits a 40x10 or 10x40 image: all 10 attempts fail.
    rng = np.random.default_rng(0)
    assert random_resized_box(40, 10, (1.0, 1.0), (1.0, 1.0), rng) == (15, 0, 25, 10)
    assert random_resized_box(10, 40, (1.0, 1.0), (1.0, 1.0), rng) == (0, 15, 10, 25)
    # Ratio 2 on a 40x10 image: the widest box of ratio 2, 20x10.
    assert random_resized_box(40, 10, (1.0, 1.0), (0.5, 2.0), rng) == (10, 0, 30, 10)


def test_random_resized_crop_size_and_flip():
    image = noise(16, 12, seed=1)
    # scale 1 and the image's own ratio: the box is the whole image; only the flip varies.
    crop = RandomResizedCropFlip(8, (1.0, 1.0), (16 / 12, 16 / 12))
    whole = np.asarray(image.resize((8, 8), Image.Resampling.BILINEAR))
    flips = 0
    for seed in range(100):
        out = np.asarray(crop(image, np.random.default_rng(seed)))
        assert out.shape == (8, 8, 3)
        flipped = np.array_equal(out, whole[:, ::-1])
        assert flipped or np.array_equal(out, whole)
        flips += flipped
    assert 30 < flips < 70


def test_train_batches_are_random_yet_reproducible(root):
    loader = loader_for(root, seed=3)
    assert len(loader) == 2  # drop_last by default when training
    first = list(loader)
    again = list(loader_for(root, seed=3))
    loader.set_epoch(1)
    other = list(loader)
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        for a, b in zip(first, again, strict=True)
    )
    assert not torch.equal(first[0][0], other[0][0])


def test_each_sample_draws_from_seed_epoch_and_index(root):
    loader = loader_for(root, 3, seed=4, **FLAT)
    loader.set_epoch(2)
    crop = RandomResizedCropFlip(8, (0.08, 1.0), (3 / 4, 4 / 3))
    expected = []
    for index, (path, _) in enumerate(loader.samples):
        rng = np.random.default_rng(np.random.SeedSequence((4, 2, index)))
        with Image.open(path) as image:
            expected.append(np.asarray(crop(image.convert("RGB"), rng)))
    got = np.concatenate([as_pixels(x) for x, _ in loader])
    # The order is shuffled: each output must be the expected crop of a distinct sample.
    matches = [[i for i, e in enumerate(expected) if np.array_equal(e, g)] for g in got]
    assert sorted(m for match in matches for m in match) == list(range(9))


def test_results_do_not_depend_on_the_workers(root):
    for epoch in (0, 1):
        by_main = loader_for(root, 2, seed=5, num_workers=0)
        by_workers = loader_for(root, 2, seed=5, num_workers=2)
        by_main.set_epoch(epoch)
        by_workers.set_epoch(epoch)
        for (x, y), (x_workers, y_workers) in zip(by_main, by_workers, strict=True):
            assert torch.equal(x, x_workers) and torch.equal(y, y_workers)


@pytest.mark.parametrize("split", ["train", "test"])
def test_shards_are_slices_of_the_global_batch(root, split):
    def make(size, **shard):
        loader = loader_for(root, size, split, seed=1, **shard)
        loader.set_epoch(1)
        return loader

    assert_shards_match_single(make, batch_size=2, world_size=2)


def test_resume_at_any_batch(root):
    loader = loader_for(root, 2, seed=2)
    loader.set_epoch(3)
    whole = list(loader)
    for start in range(len(whole) + 1):
        loader.set_epoch(3, start)
        for (x, y), (x_whole, y_whole) in zip(loader, whole[start:], strict=True):
            assert torch.equal(x, x_whole) and torch.equal(y, y_whole)


def corrupt(root: Path) -> Path:
    """Truncate bee/img2.jpg to half its bytes."""
    path = root / "train" / "bee" / "img2.jpg"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


@pytest.mark.parametrize("num_workers", [0, 2])
def test_corrupt_image_raises_naming_the_file(root, num_workers):
    path = corrupt(root)
    loader = loader_for(root, 3, train=False, num_workers=num_workers)
    with pytest.raises(DatasetError, match="unreadable or truncated image") as error:
        list(loader)
    message = str(error.value)
    assert str(path) in message and "\n" not in message and "Traceback" not in message


def test_skip_bad_drops_and_counts_unreadable_images(root):
    corrupt(root)
    (root / "train" / "cat" / "img0.jpg").write_bytes(b"not a JPEG at all")
    loader = loader_for(root, 3, train=False, skip_bad=True)
    assert [len(labels) for _, labels in loader] == [3, 2, 2]
    assert loader.skipped == 2
    list(loader)
    assert loader.skipped == 4  # counted over all epochs


def test_skip_bad_cannot_drop_a_whole_batch(root):
    corrupt(root)
    loader = loader_for(root, 1, train=False, skip_bad=True)
    with pytest.raises(DatasetError, match=r"no image of a batch is readable .*bee/img2\.jpg"):
        list(loader)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"rank": 1, "world_size": 1}, ValueError, "rank must be in"),
        ({"num_workers": -1}, ValueError, "num_workers must be >= 0"),
        ({"mean": (0.5,)}, ValueError, "mean and std need 3 values"),
        ({"scale": (0.5, 0.1)}, ValueError, "scale must satisfy"),
        ({"train": False, "image_size": 16, "resize_size": 12}, ValueError, "image_size <= resize"),
    ],
)
def test_bad_options(root, options, error, message):
    with pytest.raises(error, match=message):
        loader_for(root, **options)


def test_bad_samples(root):
    samples, classes = open_stream(root, "train")
    with pytest.raises(
        DatasetError, match=r"labels must lie in \[0, 2\) .* got values in \[0, 2\]"
    ):
        StreamLoader(samples, classes[:2], 2, train=True)
    with pytest.raises(DatasetError, match="no samples"):
        StreamLoader([], classes, 2, train=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_match_cpu_batches(root):
    on_cuda = loader_for(root, device="cuda", num_workers=2)
    for (x, y), (x_cpu, y_cpu) in zip(on_cuda, loader_for(root), strict=True):
        assert x.is_cuda and y.is_cuda
        torch.testing.assert_close(x.cpu(), x_cpu)
        assert torch.equal(y.cpu(), y_cpu)
