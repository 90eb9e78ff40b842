"""BatchLoader: every sample once per epoch, reproducible per (seed, epoch)."""

import pytest
import torch

from attnzoo.data import BatchLoader, EvalTransform, ImageDataset, TrainTransform

N = 10


def make_loader(batch_size=4, *, transform=None, **options):
    """Sample i has label i, so batches show which samples they hold."""
    images = torch.randint(
        0, 256, (N, 3, 6, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    dataset = ImageDataset(images, torch.arange(N), tuple(f"c{i}" for i in range(N)))
    options = {"shuffle": True, "drop_last": False, **options}
    transform = transform or TrainTransform([0.5] * 3, [0.25] * 3, padding=2)
    return BatchLoader(dataset, batch_size, transform=transform, **options)


def epoch(loader):
    images, labels = zip(*loader, strict=True)
    return torch.cat(images), torch.cat(labels)


def test_every_sample_once_per_epoch():
    loader = make_loader()
    assert len(loader) == 3
    for e in range(3):
        loader.set_epoch(e)
        batches = list(loader)
        assert [len(y) for _, y in batches] == [4, 4, 2]
        assert all(y.dtype == torch.int64 and x.dtype == torch.float32 for x, y in batches)
        assert sorted(torch.cat([y for _, y in batches]).tolist()) == list(range(N))


def test_deterministic_per_seed_and_epoch():
    a, b = make_loader(seed=1), make_loader(seed=1)
    first_images, first_labels = epoch(a)
    images, labels = epoch(b)
    assert torch.equal(images, first_images) and torch.equal(labels, first_labels)
    b.set_epoch(1)
    images, labels = epoch(b)
    assert not torch.equal(labels, first_labels)  # another order
    b.set_epoch(0)
    assert torch.equal(epoch(b)[0], first_images)
    assert not torch.equal(epoch(make_loader(seed=2))[1], first_labels)


def test_augmentation_changes_across_epochs():
    # Without shuffling only the augmentation can differ between epochs.
    loader = make_loader(shuffle=False)
    first_images, first_labels = epoch(loader)
    assert first_labels.tolist() == list(range(N))
    loader.set_epoch(1)
    images, labels = epoch(loader)
    assert torch.equal(labels, first_labels) and not torch.equal(images, first_images)


def test_eval_order_is_the_dataset_order():
    loader = make_loader(shuffle=False, transform=EvalTransform([0.0] * 3, [1.0] * 3))
    images, labels = epoch(loader)
    assert labels.tolist() == list(range(N))
    torch.testing.assert_close(images, loader.dataset.images.float() / 255)


def test_drop_last():
    loader = make_loader(batch_size=4, drop_last=True)
    assert len(loader) == 2 and [len(y) for _, y in loader] == [4, 4]
    with pytest.raises(ValueError, match=r"batch_size 20 is larger than the dataset \(10 images\)"):
        make_loader(batch_size=20, drop_last=True)
    assert len(make_loader(batch_size=20)) == 1
