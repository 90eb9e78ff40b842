"""Batches from an in-memory dataset, shuffled and augmented reproducibly per (seed, epoch)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from .dataset import ImageDataset

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class BatchLoader:
    """Yields (transformed images, int64 labels) batches of ``dataset``.

    The order (when ``shuffle``) and the transform's random draws of an epoch depend only on
    (seed, epoch): call ``set_epoch`` before iterating, as with ``DistributedSampler``.
    """

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
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.drop_last, self.transform = shuffle, drop_last, transform
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration's order and augmentation those of ``epoch``."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def __len__(self) -> int:
        """The number of batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # SeedSequence hashes (seed, epoch) to one 64-bit seed: nearby pairs get unrelated streams.
        seed = np.random.SeedSequence((self.seed, self.epoch)).generate_state(1, np.uint64)[0]
        generator = torch.Generator().manual_seed(int(seed))
        n = len(self.dataset)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        for i in range(len(self)):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield self.transform(self.dataset.images[index], generator), self.dataset.labels[index]
