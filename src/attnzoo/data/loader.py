"""Batches from an in-memory dataset, shuffled and augmented reproducibly per (seed, epoch)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from .dataset import ImageDataset

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class BatchLoader:
    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        *,
        shuffle: bool,
        drop_last: bool,
        transform: Transform,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if drop_last and batch_size > len(dataset):
            raise ValueError(
                f"batch_size {batch_size} is larger than the dataset ({len(dataset)} images) "
                "and drop_last is set: no batch would be produced"
            )
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.drop_last, self.transform = shuffle, drop_last, transform
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Make the order and augmentation a function of (seed, epoch), as DistributedSampler."""
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        n = len(self.dataset)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        for i in range(len(self)):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            images = self.transform(self.dataset.images[index], generator)
            yield images, self.dataset.labels[index]
