import numpy as np
import pytest
import torch

from attnzoo.data import BatchLoader, EvalTransform, ImageDataset, channel_stats, normalize
from attnzoo.data.transforms import crop_flip_indices, random_crop_flip

IMAGES = torch.randint(0, 256, (6, 3, 5, 7), dtype=torch.uint8)


def test_random_crop_flip_matches_per_image_reference():
    out = random_crop_flip(IMAGES, padding=2, generator=torch.Generator().manual_seed(3))
    rows, cols = crop_flip_indices(6, 5, 7, 2, torch.Generator().manual_seed(3))
    for i, image in enumerate(IMAGES.numpy()):
        padded = np.pad(image, ((0, 0), (2, 2), (2, 2)))
        dy, dx = int(rows[i, 0]), int(cols[i].min())
        crop = padded[:, dy : dy + 5, dx : dx + 7]
        flipped = bool(cols[i, 0] > cols[i, -1])
        expected = crop[:, :, ::-1] if flipped else crop
        assert np.array_equal(out[i].numpy(), expected)


def test_crops_and_flips_vary():
    rows, cols = crop_flip_indices(200, 5, 7, 4, torch.Generator().manual_seed(0))
    assert set(rows[:, 0].tolist()) == set(range(9))
    flipped = (cols[:, 0] > cols[:, -1]).float().mean()
    assert 0.35 < flipped < 0.65


def test_normalize_and_channel_stats():
    mean, std = channel_stats(IMAGES, chunk=4)
    pixels = IMAGES.numpy().transpose(1, 0, 2, 3).reshape(3, -1) / 255
    np.testing.assert_allclose(mean, pixels.mean(1), rtol=1e-10)
    np.testing.assert_allclose(std, pixels.std(1), rtol=1e-8)
    out = normalize(IMAGES, mean, std)
    assert out.dtype == torch.float32
    expected = (IMAGES.double() / 255 - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[
        :, None, None
    ]
    torch.testing.assert_close(out, expected.float())


def make_loader(n=10, batch_size=4, **kwargs):
    dataset = ImageDataset(IMAGES.repeat(2, 1, 1, 1)[:n], torch.arange(n) % 3, ("a", "b", "c"))
    options = dict(shuffle=True, drop_last=False, transform=EvalTransform([0] * 3, [1] * 3))
    options.update(kwargs)
    return dataset, BatchLoader(dataset, batch_size, **options)


def test_loader_covers_every_sample_once_per_epoch():
    dataset, loader = make_loader()
    assert len(loader) == 3
    seen = torch.cat([x[:, 0, 0, 0] for x, _ in loader])
    assert sorted((seen * 255).round().tolist()) == sorted(
        dataset.images[:, 0, 0, 0].float().tolist()
    )


def test_loader_is_deterministic_per_seed_and_epoch():
    _, a = make_loader(n=12, batch_size=12, seed=1)
    _, b = make_loader(n=12, batch_size=12, seed=1)
    first = next(iter(a))[0]
    assert torch.equal(next(iter(b))[0], first)
    b.set_epoch(1)
    assert not torch.equal(next(iter(b))[0], first)
    b.set_epoch(0)
    assert torch.equal(next(iter(b))[0], first)


def test_drop_last_and_oversized_batch():
    _, loader = make_loader(n=10, batch_size=4, drop_last=True)
    assert len(loader) == 2 and all(len(y) == 4 for _, y in loader)
    with pytest.raises(ValueError, match="batch_size 20 is larger than the dataset"):
        make_loader(n=10, batch_size=20, drop_last=True)
