"""CIFAR-style augmentation and normalisation applied to whole batches of uint8 images at once.

The random crop (with zero padding) and horizontal flip of a batch are one gather: no Python loop
over images, and it runs on whatever device the batch is on. An optional resize (CIFAR's 32 px to
the 224 px of ImageNet weights) follows the crop, before the normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..validation import AttnzooError


def channel_stats(images: torch.Tensor, chunk: int = 1024) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 (N, C, H, W) images, in [0, 1] units.

    Sums are accumulated in float64, ``chunk`` images at a time, so that 50,000 CIFAR images
    never exist as one float tensor.
    """
    if images.dim() != 4 or images.dtype != torch.uint8 or len(images) == 0:
        raise AttnzooError(
            f"expected a non-empty uint8 (N, C, H, W) tensor, got {images.dtype} "
            f"{tuple(images.shape)}"
        )
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for start in range(0, len(images), chunk):
        block = images[start : start + chunk].to(torch.float64) / 255
        total += block.sum((0, 2, 3))
        total_sq += block.square().sum((0, 2, 3))
    count = images.numel() // images.shape[1]
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(0).sqrt()  # population std, as numpy's
    return mean.tolist(), std.tolist()


def sample_crop_flip(
    n: int, padding: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The random draws of ``random_crop_flip``: offsets dy, dx in [0, 2 * padding], flip flags."""
    if padding < 0:
        raise AttnzooError(f"padding must be >= 0, got {padding}")
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    return dy, dx, flip


def crop_flip(
    images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor, padding: int
) -> torch.Tensor:
    """Zero-pad by ``padding``, crop sample i at (dy[i], dx[i]), mirror it if flip[i]."""
    n, c, h, w = images.shape
    device = images.device
    dy, dx, flip = dy.to(device), dx.to(device), flip.to(device)
    cols = torch.arange(w, device=device).expand(n, w)
    cols = dx[:, None] + torch.where(flip[:, None], cols.flip(1), cols)  # (N, W)
    rows = dy[:, None] + torch.arange(h, device=device)  # (N, H)
    padded = F.pad(images, (padding,) * 4)
    # One gather; the four index tensors broadcast to the output shape (N, C, H, W).
    return padded[
        torch.arange(n, device=device)[:, None, None, None],
        torch.arange(c, device=device)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


def random_crop_flip(
    images: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per sample: a random shift of up to ``padding`` pixels (zero fill), a flip with p=0.5."""
    if images.dim() != 4:
        raise AttnzooError(f"expected an (N, C, H, W) batch, got shape {tuple(images.shape)}")
    return crop_flip(images, *sample_crop_flip(len(images), padding, generator), padding)


INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


def check_interpolation(interpolation: str) -> None:
    if interpolation not in INTERPOLATIONS:
        raise AttnzooError(
            f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}"
        )


def resize(images: torch.Tensor, size: int, interpolation: str = "bilinear") -> torch.Tensor:
    """uint8 (N, C, H, W) images resized to ``size`` x ``size``, rounded back to uint8.

    ``F.interpolate`` without antialiasing (it is meant for upsampling, CIFAR to 224) and with
    ``align_corners=False``, as torchvision's tensor resize; deterministic on CPU and GPU. Images
    already of that size are returned as they are.
    """
    check_interpolation(interpolation)
    if images.shape[-2:] == (size, size):
        return images
    extra = {} if interpolation == "nearest" else {"align_corners": False}
    out = F.interpolate(images.float(), size=(size, size), mode=interpolation, **extra)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (N, C, H, W) images to float32 ``(images / 255 - mean) / std``, per channel."""
    if not len(mean) == len(std) == images.shape[1]:
        raise AttnzooError(
            f"mean ({len(mean)}) and std ({len(std)}) need one value per channel "
            f"({images.shape[1]})"
        )
    mean_t = torch.tensor(mean, dtype=torch.float32, device=images.device)[:, None, None]
    std_t = torch.tensor(std, dtype=torch.float32, device=images.device)[:, None, None]
    return (images.float() / 255 - mean_t) / std_t


class _Finish:
    """What both transforms end with: the resize to ``size`` (None: none), the normalisation."""

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        size: int | None = None,
        interpolation: str = "bilinear",
    ) -> None:
        check_interpolation(interpolation)
        if size is not None and size < 1:
            raise AttnzooError(f"size must be positive, got {size}")
        self.mean, self.std = tuple(mean), tuple(std)
        self.size, self.interpolation = size, interpolation

    def finish(self, images: torch.Tensor) -> torch.Tensor:
        """Resize (if a size is set) and normalise uint8 ``images``."""
        if self.size is not None:
            images = resize(images, self.size, self.interpolation)
        return normalize(images, self.mean, self.std)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return self.apply(images, self.draw(len(images), generator))


class EvalTransform(_Finish):
    """Resize to ``size`` (None: as they are), then normalisation: it draws nothing."""

    def draw(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        return ()

    def apply(self, images: torch.Tensor, draws: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.finish(images)


class TrainTransform(_Finish):
    """Random crop and flip (``padding`` 0: flip only) at the stored size, then the resize to
    ``size`` (None: none) and the normalisation.

    The random draws (``draw``) are separate from their application (``apply``) so that a loader
    can draw for a whole global batch and apply the draws to one process's rows of it.
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        padding: int = 4,
        size: int | None = None,
        interpolation: str = "bilinear",
    ) -> None:
        if padding < 0:
            raise AttnzooError(f"padding must be >= 0, got {padding}")
        super().__init__(mean, std, size, interpolation)
        self.padding = padding

    def draw(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """Per-image draws for ``n`` images: crop offsets dy, dx and flip flags, each (n,)."""
        return sample_crop_flip(n, self.padding, generator)

    def apply(self, images: torch.Tensor, draws: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Augment and normalise uint8 (N, C, H, W) ``images`` with the draws for these N."""
        return self.finish(crop_flip(images, *draws, self.padding))
