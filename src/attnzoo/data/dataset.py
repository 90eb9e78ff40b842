"""An in-memory image classification dataset: uint8 images, int64 labels and class names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..validation import AttnzooError


class DatasetError(ValueError):
    """A dataset file or folder that exists but cannot be read as what it claims to be."""


def check_max_per_class(max_per_class: int | None) -> None:
    """Reject a per-class limit that is not a positive int (None means no limit)."""
    if max_per_class is not None and (
        isinstance(max_per_class, bool) or not isinstance(max_per_class, int) or max_per_class < 1
    ):
        raise AttnzooError(f"max_per_class must be a positive int or None, got {max_per_class!r}")


# eq=False: a generated __eq__ would compare the tensors elementwise and fail in ``bool()``.
@dataclass(frozen=True, eq=False)
class ImageDataset:
    """``images`` uint8 (N, C, H, W), ``labels`` int64 (N,) indexing ``classes``."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            raise DatasetError(
                f"images must be a uint8 (N, C, H, W) tensor, got {_describe(images)}"
            )
        if (
            not isinstance(labels, torch.Tensor)
            or labels.dtype != torch.int64
            or labels.shape != (len(images),)
        ):
            raise DatasetError(
                f"labels must be an int64 tensor of shape ({len(images)},) to match the images, "
                f"got {_describe(labels)}"
            )
        if not isinstance(self.classes, tuple) or not all(isinstance(c, str) for c in self.classes):
            raise DatasetError(f"classes must be a tuple of str, got {self.classes!r}")
        low, high = (int(labels.min()), int(labels.max())) if len(labels) else (0, -1)
        if low < 0 or high >= len(self.classes):
            raise DatasetError(
                f"labels must lie in [0, {len(self.classes)}) for {len(self.classes)} classes, "
                f"got values in [{low}, {high}]"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices: torch.Tensor | Sequence[int]) -> ImageDataset:
        """The samples at ``indices`` (integer positions or a boolean mask), in that order."""
        index = torch.as_tensor(indices)
        if index.dtype != torch.bool:
            index = index.long()  # an empty list becomes a float tensor, which cannot index
        return ImageDataset(self.images[index], self.labels[index], self.classes)

    def first_per_class(self, max_per_class: int | None) -> ImageDataset:
        """The first ``max_per_class`` samples of each class, in dataset order (all if None)."""
        check_max_per_class(max_per_class)
        if max_per_class is None:
            return self
        return self.subset(_rank_in_class(self.labels) < max_per_class)

    def hold_out(self, count: int, seed: int) -> tuple[ImageDataset, ImageDataset]:
        """(the rest, ``count`` samples held out), both in dataset order.

        Class-balanced: each class gives its share of ``count`` (its size x count / total, the
        largest remainders rounded up, ties to the lower class index), its samples drawn at random
        by ``seed``. So the same ``seed`` always holds out the same samples.
        """
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count < len(self):
            raise AttnzooError(
                f"cannot hold out {count!r} of {len(self)} samples: leave at least one on each side"
            )
        exact = torch.bincount(self.labels, minlength=self.num_classes).double() * count / len(self)
        quota = exact.floor().long()
        by_remainder = sorted(range(self.num_classes), key=lambda c: (-float(exact[c] % 1), c))
        quota[by_remainder[: count - int(quota.sum())]] += 1
        shuffled = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        labels = self.labels[shuffled]
        held = torch.zeros(len(self), dtype=torch.bool)
        held[shuffled] = _rank_in_class(labels) < quota[labels]
        return self.subset(~held), self.subset(held)


def _rank_in_class(labels: torch.Tensor) -> torch.Tensor:
    """Each sample's position among the samples of its class, in order."""
    # The position after a stable sort by label minus the position where its label's run starts.
    order = torch.sort(labels, stable=True).indices
    sorted_labels = labels[order]
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order)) - torch.searchsorted(sorted_labels, sorted_labels)
    return rank


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"{value.dtype} tensor of shape {tuple(value.shape)}"
    return type(value).__name__
