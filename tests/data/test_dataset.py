"""ImageDataset validation, subset and first_per_class."""

import pytest
import torch

from attnzoo.data import DatasetError, ImageDataset

IMAGES = torch.arange(6, dtype=torch.uint8).reshape(6, 1, 1, 1)
LABELS = torch.tensor([2, 0, 2, 1, 2, 0])


def test_basics_and_subset():
    data = ImageDataset(IMAGES, LABELS, ("a", "b", "c"))
    assert len(data) == 6 and data.num_classes == 3
    picked = data.subset([4, 1])
    assert picked.images.flatten().tolist() == [4, 1] and picked.labels.tolist() == [2, 0]
    assert len(data.subset([])) == 0
    assert data.subset(LABELS == 2).images.flatten().tolist() == [0, 2, 4]


def test_first_per_class_keeps_dataset_order():
    data = ImageDataset(IMAGES, LABELS, ("a", "b", "c"))
    assert data.first_per_class(1).images.flatten().tolist() == [0, 1, 3]
    assert data.first_per_class(2).images.flatten().tolist() == [0, 1, 2, 3, 5]
    assert data.first_per_class(None) is data
    with pytest.raises(ValueError, match="max_per_class"):
        data.first_per_class(0)


@pytest.mark.parametrize(
    ("images", "labels", "classes", "message"),
    [
        (IMAGES.float(), LABELS, ("a", "b", "c"), "images must be a uint8"),
        (IMAGES[:, 0], LABELS, ("a", "b", "c"), "images must be a uint8"),
        (IMAGES, LABELS[:5], ("a", "b", "c"), r"shape \(6,\)"),
        (IMAGES, LABELS.int(), ("a", "b", "c"), "int64"),
        (IMAGES, LABELS, ("a", "b"), r"\[0, 2\) .* got values in \[0, 2\]"),
        (IMAGES, LABELS - 1, ("a", "b", "c"), r"got values in \[-1, 1\]"),
        (IMAGES, LABELS, ["a", "b", "c"], "tuple of str"),
    ],
)
def test_invalid_datasets_are_rejected(images, labels, classes, message):
    with pytest.raises(DatasetError, match=message):
        ImageDataset(images, labels, classes)


def _numbered(labels: list[int], classes: int) -> ImageDataset:
    """Images that spell their index (two bytes), so that a split can be checked by content."""
    index = torch.arange(len(labels))
    images = torch.stack([index // 256, index % 256], 1).to(torch.uint8).reshape(-1, 2, 1, 1)
    return ImageDataset(images, torch.tensor(labels), tuple("abcdefghij"[:classes]))


def _indices(data: ImageDataset) -> list[int]:
    return (data.images[:, 0, 0, 0].long() * 256 + data.images[:, 1, 0, 0].long()).tolist()


def test_hold_out_is_disjoint_complete_deterministic_and_class_balanced():
    # Classes of 50, 30 and 20 samples, interleaved; hold out 17.
    labels = [0] * 50 + [1] * 30 + [2] * 20
    labels = [labels[(7 * i) % 100] for i in range(100)]
    data = _numbered(labels, 3)
    rest, held = data.hold_out(17, seed=4)
    kept, out = _indices(rest), _indices(held)
    assert not set(kept) & set(out) and sorted(kept + out) == list(range(100))
    assert kept == sorted(kept) and out == sorted(out)  # dataset order
    # Shares 8.5, 5.1, 3.4: floors 8, 5, 3 and the one left over to the largest remainder (0.5).
    assert torch.bincount(held.labels, minlength=3).tolist() == [9, 5, 3]
    assert all(labels[i] == label for i, label in zip(out, held.labels.tolist(), strict=True))
    assert _indices(data.hold_out(17, seed=4)[1]) == out
    assert _indices(data.hold_out(17, seed=5)[1]) != out
    # Drawn at random within a class, not its first samples.
    first_of_class_0 = [i for i in range(100) if labels[i] == 0][:9]
    assert [i for i in out if labels[i] == 0] != first_of_class_0


@pytest.mark.parametrize("count", [0, 6, 7, -1, 1.5])
def test_hold_out_leaves_both_sides_non_empty(count):
    with pytest.raises(ValueError, match="cannot hold out"):
        ImageDataset(IMAGES, LABELS, ("a", "b", "c")).hold_out(count, seed=0)
