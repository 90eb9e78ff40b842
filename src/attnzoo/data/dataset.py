"""An in-memory image classification dataset: uint8 images and int64 labels."""

from __future__ import annotations

from dataclasses import dataclass

import torch


class DatasetError(ValueError):
    """A dataset file or folder that exists but cannot be read as what it claims to be."""


@dataclass(frozen=True)
class ImageDataset:
    images: torch.Tensor  # uint8, (N, C, H, W)
    labels: torch.Tensor  # int64, (N,)
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DatasetError(
                f"images must be a uint8 (N, C, H, W) tensor; got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.labels.shape != (len(self.images),):
            raise DatasetError(
                f"{len(self.images)} images but labels of shape {tuple(self.labels.shape)}"
            )
        if len(self.labels) and not 0 <= int(self.labels.min()) <= int(self.labels.max()) < len(
            self.classes
        ):
            raise DatasetError(
                f"labels must lie in [0, {len(self.classes)}); got "
                f"[{int(self.labels.min())}, {int(self.labels.max())}]"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def per_class(self, k: int | None) -> ImageDataset:
        """The first ``k`` samples of each class, in their original order (all if k is None)."""
        if k is None:
            return self
        keep = torch.zeros(len(self), dtype=torch.bool)
        for c in range(self.num_classes):
            keep[(self.labels == c).nonzero().flatten()[:k]] = True
        return ImageDataset(self.images[keep], self.labels[keep], self.classes)
