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
