"""BatchLoader: every sample once per epoch, reproducible, sharded by global batch, resumable."""

import pytest
import torch

from attnzoo.data import BatchLoader, EvalTransform, ImageDataset, TrainTransform
from attnzoo.data.loader import ShardedLoader, seed_of

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


def test_batch_draws_come_from_seed_epoch_and_batch_index():
    loader = make_loader(4, shuffle=False, seed=3)
    loader.set_epoch(5)
    for i, (images, _) in enumerate(loader):
        generator = torch.Generator().manual_seed(seed_of(3, 5, i))
        expected = loader.transform(loader.dataset.images[4 * i : 4 * i + 4], generator)
        assert torch.equal(images, expected)


def test_eval_order_is_the_dataset_order():
    loader = make_loader(shuffle=False, transform=EvalTransform([0.0] * 3, [1.0] * 3))
    images, labels = epoch(loader)
    assert labels.tolist() == list(range(N))
    torch.testing.assert_close(images, loader.dataset.images.float() / 255)


def test_drop_last():
    loader = make_loader(batch_size=4, drop_last=True)
    assert len(loader) == 2 and [len(y) for _, y in loader] == [4, 4]
    with pytest.raises(ValueError, match=r"global batch of 20 .* larger than the dataset \(10 im"):
        make_loader(batch_size=20, drop_last=True)
    with pytest.raises(ValueError, match=r"global batch of 12 \(batch_size 4 x world_size 3\)"):
        make_loader(batch_size=4, drop_last=True, world_size=3)
    assert len(make_loader(batch_size=20)) == 1


def assert_shards_match_single(make, batch_size: int, world_size: int) -> None:
    """The ranks' i-th batches, concatenated in rank order, are bit-identical to the i-th batch of
    one process with a ``world_size`` times larger batch; ``make(batch_size, **shard)`` builds a
    loader."""
    single = make(batch_size * world_size)
    ranks = [make(batch_size, rank=r, world_size=world_size) for r in range(world_size)]
    expected = list(single)
    shards = [list(loader) for loader in ranks]
    assert [len(batches) for batches in shards] == [len(loader) for loader in ranks]
    assert max(len(batches) for batches in shards) == len(expected)
    if single.drop_last:
        assert {len(batches) for batches in shards} == {len(expected)}
    for i, (images, labels) in enumerate(expected):
        parts = [batches[i] for batches in shards if i < len(batches)]
        assert torch.equal(torch.cat([x for x, _ in parts]), images)
        assert torch.equal(torch.cat([y for _, y in parts]), labels)


@pytest.mark.parametrize("drop_last", [True, False])
@pytest.mark.parametrize(("batch_size", "world_size"), [(3, 2), (2, 3), (5, 1)])
def test_shards_are_slices_of_the_global_batch(batch_size, world_size, drop_last):
    def make(size, **shard):
        loader = make_loader(size, drop_last=drop_last, seed=7, **shard)
        loader.set_epoch(2)
        return loader

    assert_shards_match_single(make, batch_size, world_size)


def test_sharded_evaluation_sees_every_sample_once():
    # 10 samples, global batches of 6: rank 2 has no share of the second one.
    ranks = [make_loader(2, shuffle=False, rank=r, world_size=3) for r in range(3)]
    assert [len(loader) for loader in ranks] == [2, 2, 1]
    labels = [y.tolist() for loader in ranks for _, y in loader]
    assert labels == [[0, 1], [6, 7], [2, 3], [8, 9], [4, 5]]


def test_resume_at_any_batch_without_replaying():
    draws = []

    class CountingTransform(TrainTransform):
        def draw(self, n, generator=None):
            draws.append(n)
            return super().draw(n, generator)

    loader = make_loader(3, transform=CountingTransform([0.5] * 3, [0.25] * 3, padding=2))
    loader.set_epoch(4)
    whole = list(loader)
    for start in range(len(loader) + 1):
        draws.clear()
        loader.set_epoch(4, start)
        resumed = list(loader)
        assert len(draws) == len(whole) - start  # the skipped batches are not produced
        assert len(resumed) == len(whole) - start
        for (x, y), (x_whole, y_whole) in zip(resumed, whole[start:], strict=True):
            assert torch.equal(x, x_whole) and torch.equal(y, y_whole)
    loader.set_epoch(4, 2)
    list(loader)
    assert len(list(loader)) == len(whole)  # start holds for one iteration only


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"world_size": 0}, "world_size must be >= 1"),
        ({"rank": 2, "world_size": 2}, r"rank must be in \[0, world_size=2\), got 2"),
        ({"rank": -1}, "rank must be in"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"batch_size": 0}, "batch_size must be positive"),
    ],
)
def test_bad_sharding_options(options, message):
    with pytest.raises(ValueError, match=message):
        make_loader(**options)


def test_bad_epoch_or_start():
    loader = make_loader(4)  # 3 batches
    loader.set_epoch(0, 3)  # an epoch resumed after its last batch yields nothing
    assert list(loader) == []
    with pytest.raises(ValueError, match=r"start must be in \[0, 3\] \(batches per epoch\), got 4"):
        loader.set_epoch(0, 4)
    with pytest.raises(ValueError, match="start must be in"):
        loader.set_epoch(0, -1)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        loader.set_epoch(-1)


def test_is_a_sharded_loader_and_keeps_the_dataset_on_its_device():
    loader = make_loader(device="cpu")
    assert isinstance(loader, ShardedLoader)
    assert loader.images.device == torch.device("cpu")
    images, labels = next(iter(loader))
    assert images.device.type == labels.device.type == "cpu"
    expected = next(iter(make_loader()))
    assert torch.equal(images, expected[0]) and torch.equal(labels, expected[1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_match_cpu_batches():
    loader = make_loader(device="cuda")
    assert loader.images.is_cuda
    for (x, y), (x_cpu, y_cpu) in zip(loader, make_loader(), strict=True):
        assert x.is_cuda and y.is_cuda
        torch.testing.assert_close(x.cpu(), x_cpu)
        assert torch.equal(y.cpu(), y_cpu)
