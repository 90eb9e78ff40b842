"""Batched augmentation against per-image NumPy references; normalisation and statistics."""

import numpy as np
import pytest
import torch

from attnzoo.data import (
    EvalTransform,
    TrainTransform,
    channel_stats,
    crop_flip,
    normalize,
    random_crop_flip,
    sample_crop_flip,
)

IMAGES = torch.randint(
    0, 256, (64, 3, 5, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
)


def crop_flip_reference(
    image: np.ndarray, dy: int, dx: int, flip: bool, padding: int
) -> np.ndarray:
    """One (C, H, W) image: zero-pad, slice the crop, mirror the columns."""
    _, h, w = image.shape
    padded = np.pad(image, ((0, 0), (padding, padding), (padding, padding)))
    crop = padded[:, dy : dy + h, dx : dx + w]
    return crop[:, :, ::-1] if flip else crop


@pytest.mark.parametrize("padding", [0, 2, 4])
def test_random_crop_flip_matches_per_image_reference(padding):
    out = random_crop_flip(IMAGES, padding, torch.Generator().manual_seed(3))
    # The same generator state draws the same offsets and flips.
    dy, dx, flip = sample_crop_flip(len(IMAGES), padding, torch.Generator().manual_seed(3))
    assert out.dtype == torch.uint8 and out.shape == IMAGES.shape
    for i, image in enumerate(IMAGES.numpy()):
        expected = crop_flip_reference(image, int(dy[i]), int(dx[i]), bool(flip[i]), padding)
        np.testing.assert_array_equal(out[i].numpy(), expected)


def test_offsets_cover_the_range_and_half_are_flipped():
    dy, dx, flip = sample_crop_flip(2000, 4, torch.Generator().manual_seed(0))
    assert set(dy.tolist()) == set(dx.tolist()) == set(range(9))
    assert 0.45 < flip.float().mean() < 0.55
    with pytest.raises(ValueError, match="padding"):
        sample_crop_flip(3, -1)


def test_normalize_matches_the_formula():
    mean, std = [0.1, 0.5, 0.9], [0.2, 0.25, 0.3]
    out = normalize(IMAGES, mean, std)
    expected = (IMAGES.numpy() / 255.0 - np.array(mean)[:, None, None]) / np.array(std)[
        :, None, None
    ]
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="one value per channel"):
        normalize(IMAGES, [0.5], [0.5])


def test_channel_stats_match_numpy():
    # A chunk that does not divide the batch exercises the partial last chunk.
    mean, std = channel_stats(IMAGES, chunk=10)
    pixels = IMAGES.numpy().transpose(1, 0, 2, 3).reshape(3, -1) / 255.0
    np.testing.assert_allclose(mean, pixels.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(std, pixels.std(axis=1), rtol=1e-9)
    with pytest.raises(ValueError, match="uint8"):
        channel_stats(IMAGES.float())


def test_train_and_eval_transforms():
    mean, std = [0.5] * 3, [0.25] * 3
    train = TrainTransform(mean, std, padding=2)(IMAGES, torch.Generator().manual_seed(5))
    cropped = random_crop_flip(IMAGES, 2, torch.Generator().manual_seed(5))
    torch.testing.assert_close(train, normalize(cropped, mean, std))
    evaluated = EvalTransform(mean, std)(IMAGES, None)
    torch.testing.assert_close(evaluated, normalize(IMAGES, mean, std))


def bilinear_reference(image: np.ndarray, size: int) -> np.ndarray:
    """One (C, H, W) image upsampled with half-pixel centres (align_corners=False), edges
    clamped, rounded: source coordinate (i + 0.5) * H / size - 0.5, per axis."""

    def weights(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.clip((np.arange(size) + 0.5) * n_in / size - 0.5, 0, None)
        low = np.minimum(np.floor(x).astype(int), n_in - 1)
        return low, np.minimum(low + 1, n_in - 1), x - low

    y0, y1, wy = weights(image.shape[1])
    x0, x1, wx = weights(image.shape[2])
    img = image.astype(np.float64)
    rows = img[:, y0] * (1 - wy)[:, None] + img[:, y1] * wy[:, None]
    out = rows[:, :, x0] * (1 - wx) + rows[:, :, x1] * wx
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def test_resize_then_normalise_matches_a_bilinear_reference():
    images = IMAGES[:4, :, :5, :5]
    got = EvalTransform([0.0] * 3, [1.0] * 3, size=12)(images, None)
    expected = np.stack([bilinear_reference(i, 12) for i in images.numpy()])
    # Rounding of values within float32's error of .5 may differ by one level.
    assert np.abs(got.numpy() * 255 - expected).max() <= 1.0 + 1e-4
    assert (np.abs(got.numpy() * 255 - expected) > 1e-3).mean() < 0.01
    assert torch.equal(EvalTransform([0.0] * 3, [1.0] * 3)(images, None), images.float() / 255)


def test_the_training_resize_follows_the_crop():
    train = TrainTransform([0.0] * 3, [1.0] * 3, padding=2, size=10, interpolation="nearest")
    draws = train.draw(len(IMAGES), torch.Generator().manual_seed(3))
    cropped = crop_flip(IMAGES, *draws, 2)
    # Nearest from 5x7 to 10x10: source row i // 2 and column floor(j * 7 / 10).
    rows, cols = torch.arange(10) // 2, (torch.arange(10) * 7) // 10
    expected = cropped[:, :, rows][:, :, :, cols].float() / 255
    assert torch.equal(train.apply(IMAGES, draws), expected)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        TrainTransform([0.0] * 3, [1.0] * 3, interpolation="lanczos")
