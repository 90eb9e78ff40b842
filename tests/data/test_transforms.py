"""Batched augmentation against per-image NumPy references; normalisation and statistics."""

import numpy as np
import pytest
import torch

from attnzoo.data import (
    EvalTransform,
    TrainTransform,
    channel_stats,
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
