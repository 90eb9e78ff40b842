"""ImageNet-style transforms of one PIL image, with their random draws from a NumPy generator.

Training: a random resized crop and a horizontal flip. Evaluation: resize the shorter side, crop
the centre. Both end as (3, size, size) uint8 tensors; normalisation happens later, a batch at a
time, on the training device.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

from ..validation import AttnzooError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The usual ImageNet evaluation resizes to 256 to crop 224.
EVAL_CROP_FRACTION = 224 / 256
# timm's and torchvision's interpolation names.
RESAMPLING = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}

Box = tuple[int, int, int, int]


def random_resized_box(
    width: int,
    height: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    rng: np.random.Generator,
) -> Box:
    """A random (left, top, right, bottom) crop box inside a ``width`` x ``height`` image.

    Up to 10 attempts: draw the box's area as a fraction of the image's, uniform in ``scale``, and
    its aspect ratio (width / height), log-uniform in ``ratio``; the first box that fits is placed
    uniformly at random. If none fits, the largest centred box whose aspect ratio is the image's
    clamped into ``ratio``.
    """
    area = width * height
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target_area = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(log_low, log_high))
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            return left, top, left + w, top + h
    aspect = min(max(width / height, ratio[0]), ratio[1])
    if aspect <= width / height:  # the image is too wide (or just right): keep its full height
        w, h = min(width, max(1, round(height * aspect))), height
    else:  # too tall: keep its full width
        w, h = width, min(height, max(1, round(width / aspect)))
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def resampling(interpolation: str) -> Image.Resampling:
    if interpolation not in RESAMPLING:
        raise AttnzooError(
            f"interpolation must be one of {', '.join(RESAMPLING)}, got {interpolation!r}"
        )
    return RESAMPLING[interpolation]


class RandomResizedCropFlip:
    """A ``random_resized_box`` crop resized to ``size`` x ``size`` (``interpolation``, bilinear by
    default), flipped at p=0.5."""

    def __init__(
        self,
        size: int,
        scale: tuple[float, float],
        ratio: tuple[float, float],
        interpolation: str = "bilinear",
    ) -> None:
        if size < 1:
            raise AttnzooError(f"image_size must be positive, got {size}")
        if not 0 < scale[0] <= scale[1] <= 1:
            raise AttnzooError(f"scale must satisfy 0 < low <= high <= 1, got {scale}")
        if not 0 < ratio[0] <= ratio[1]:
            raise AttnzooError(f"ratio must satisfy 0 < low <= high, got {ratio}")
        self.size, self.scale, self.ratio = size, tuple(scale), tuple(ratio)
        self.resample = resampling(interpolation)

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        box = random_resized_box(*image.size, self.scale, self.ratio, rng)
        # resize(box=...) crops and resizes in one pass, reading only the box's pixels.
        image = image.resize((self.size, self.size), self.resample, box=box)
        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image


class ResizeCenterCrop:
    """Resize the shorter side to ``resize_size`` (``interpolation``, bilinear by default), then
    crop the centre ``size`` square.

    ``rng`` is accepted for a common interface with the training transform and not used.
    """

    def __init__(self, size: int, resize_size: int, interpolation: str = "bilinear") -> None:
        if not 1 <= size <= resize_size:
            raise AttnzooError(
                f"need 1 <= image_size <= resize_size, got image_size {size} and "
                f"resize_size {resize_size}"
            )
        self.size, self.resize_size = size, resize_size
        self.resample = resampling(interpolation)

    def __call__(self, image: Image.Image, rng: np.random.Generator | None = None) -> Image.Image:
        width, height = image.size
        short = self.resize_size
        if width <= height:
            width, height = short, round(height * short / width)
        else:
            width, height = round(width * short / height), short
        image = image.resize((width, height), self.resample)
        left, top = (width - self.size) // 2, (height - self.size) // 2
        return image.crop((left, top, left + self.size, top + self.size))


def to_uint8_chw(image: Image.Image) -> torch.Tensor:
    """An RGB PIL image as a contiguous (3, H, W) uint8 tensor."""
    # np.array copies: the tensor must own writable memory, not borrow the image's buffer.
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()
