"""CIFAR-style augmentation applied to whole batches of uint8 images at once.

Random crop with zero padding and a horizontal flip are one gather per batch (no loop over images),
so augmentation costs little beside the model and runs on whatever device the batch is on.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 images, in [0, 1] units."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for start in range(0, len(images), chunk):
        block = images[start : start + chunk].double() / 255
        total += block.sum((0, 2, 3))
        total_sq += block.square().sum((0, 2, 3))
    count = images.numel() / images.shape[1]
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(0).sqrt()
    return mean.tolist(), std.tolist()


def crop_flip_indices(
    n: int, height: int, width: int, padding: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row (N, H) and column (N, W) indices into the padded images for random crops and flips."""
    dy = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator)
    flip = torch.rand(n, 1, generator=generator) < 0.5
    cols = torch.arange(width)
    cols = torch.where(flip, cols.flip(0), cols)
    return dy + torch.arange(height), dx + cols


def random_crop_flip(
    images: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Zero-pad by ``padding``, crop back to size at a random offset, flip half the images."""
    n, _, h, w = images.shape
    rows, cols = crop_flip_indices(n, h, w, padding, generator)
    padded = F.pad(images, (padding,) * 4)
    batch = torch.arange(n)[:, None, None]
    # Advanced indices on dims 0, 2, 3 around a slice put the channel dimension last.
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 images to float32, scaled to [0, 1] and standardised per channel."""
    mean_t = torch.tensor(mean, dtype=torch.float32, device=images.device)[:, None, None]
    std_t = torch.tensor(std, dtype=torch.float32, device=images.device)[:, None, None]
    return (images.float() / 255 - mean_t) / std_t


class TrainTransform:
    """Random crop (``padding`` 0 turns it off) and flip, then normalisation."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], padding: int = 4) -> None:
        self.mean, self.std, self.padding = list(mean), list(std), padding

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return normalize(random_crop_flip(images, self.padding, generator), self.mean, self.std)


class EvalTransform:
    """Normalisation only."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean, self.std = list(mean), list(std)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return normalize(images, self.mean, self.std)
