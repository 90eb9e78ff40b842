"""Epoch plans sharded over processes, and batches of an in-memory dataset cut from them.

Everything random about an epoch is a function of (seed, epoch) and the batch or sample index, so
an epoch can be resumed at any batch without replaying the ones before it, and the batches of
``world_size`` processes together are exactly those of one process with a ``world_size`` times
larger batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch

from ..validation import AttnzooError
from .dataset import ImageDataset

Batch = tuple[torch.Tensor, torch.Tensor]


def seed_of(*key: int) -> int:
    """A 64-bit seed for the non-negative ints ``key``.

    SeedSequence hashes the key, so nearby keys such as (seed, epoch) and (seed, epoch + 1) get
    unrelated random streams.
    """
    return int(np.random.SeedSequence(key).generate_state(1, np.uint64)[0])


class ShardedLoader(ABC):
    """The plan of an epoch shared by the loaders: sample order, global batches, this rank's rows.

    An epoch's order (a permutation drawn from (seed, epoch) when ``shuffle``, else the sample
    order) is cut into global batches of ``batch_size * world_size`` samples; process ``rank``
    takes rows ``[rank * batch_size, (rank + 1) * batch_size)`` of each.

    With ``drop_last`` the partial last global batch is dropped and every rank yields
    ``len(self)`` full batches. Without it (sharded evaluation) each rank yields its share of the
    partial batch, shorter or, when empty, not at all, so ``len`` may differ by rank; the ranks
    together still see every sample exactly once.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        *,
        shuffle: bool,
        drop_last: bool,
        seed: int,
        rank: int,
        world_size: int,
    ) -> None:
        if batch_size < 1:
            raise AttnzooError(f"batch_size must be positive, got {batch_size}")
        if world_size < 1:
            raise AttnzooError(f"world_size must be >= 1, got {world_size}")
        if not 0 <= rank < world_size:
            raise AttnzooError(f"rank must be in [0, world_size={world_size}), got {rank}")
        if seed < 0:
            raise AttnzooError(f"seed must be >= 0, got {seed}")
        if drop_last and batch_size * world_size > num_samples:
            raise AttnzooError(
                f"a global batch of {batch_size * world_size} (batch_size {batch_size} x "
                f"world_size {world_size}) is larger than the dataset ({num_samples} images) "
                "and drop_last is set: no batch would be produced"
            )
        self.num_samples, self.batch_size = num_samples, batch_size
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self._start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Make the next iteration epoch ``epoch``, beginning at this process's batch ``start``.

        The batches from ``start`` on are those an uninterrupted iteration of the epoch yields
        there; the skipped ones are never produced. ``start`` holds for the next iteration only.
        """
        if epoch < 0:
            raise AttnzooError(f"epoch must be >= 0, got {epoch}")
        if not 0 <= start <= len(self):
            raise AttnzooError(
                f"start must be in [0, {len(self)}] (batches per epoch), got {start}"
            )
        self.epoch, self._start = epoch, start

    def __len__(self) -> int:
        """The batches this process yields in a whole epoch, whatever ``start``."""
        full, rest = divmod(self.num_samples, self.batch_size * self.world_size)
        return full + int(not self.drop_last and rest > self.rank * self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        epoch, start = self.epoch, self._start
        self._start = 0  # a later iteration (a second evaluation pass, say) is a whole epoch
        return self._iterate(epoch, start)

    def _order(self, epoch: int) -> torch.Tensor:
        """The epoch's sample order: drawn from (seed, epoch) when ``shuffle``, else 0, 1, ..."""
        if not self.shuffle:
            return torch.arange(self.num_samples)
        generator = torch.Generator().manual_seed(seed_of(self.seed, epoch))
        return torch.randperm(self.num_samples, generator=generator)

    def _plan(self, epoch: int, start: int) -> Iterator[tuple[int, torch.Tensor, slice]]:
        """(i, sample indices of global batch i, this rank's rows of it) for batches ``start``..."""
        order = self._order(epoch)
        size, first = self.batch_size * self.world_size, self.rank * self.batch_size
        # Only the last global batch can leave a rank's share empty, and len() excludes it then.
        for i in range(start, len(self)):
            batch = order[i * size : (i + 1) * size]
            yield i, batch, slice(first, min(first + self.batch_size, len(batch)))

    @abstractmethod
    def _iterate(self, epoch: int, start: int) -> Iterator[Batch]:
        """The (images, labels) batches of ``epoch`` from this process's batch ``start`` on."""


class BatchTransform(Protocol):
    """A batch augmentation whose random draws are made apart from their application."""

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """The random draws for ``n`` images: tensors whose first dimension is ``n``."""
        ...

    def apply(self, images: torch.Tensor, draws: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The augmented ``images``, given the rows of ``draw``'s tensors that belong to them."""
        ...


class BatchLoader(ShardedLoader):
    """Yields (transformed float images, int64 labels) batches of an in-memory ``dataset``.

    ``batch_size`` is per process; see ``ShardedLoader`` for the sharding. Batch i of an epoch
    draws its augmentation from a generator seeded by (seed, epoch, i), for the whole global
    batch, and applies this rank's rows of the draws: the ranks' augmented images together are
    bit-identical to a single process's. ``device`` (default CPU) receives the whole dataset
    once, and batches are gathered and augmented there.
    """

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        *,
        shuffle: bool,
        drop_last: bool,
        transform: BatchTransform,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(
            len(dataset),
            batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            seed=seed,
            rank=rank,
            world_size=world_size,
        )
        self.dataset, self.transform = dataset, transform
        self.device = torch.device("cpu" if device is None else device)
        # One copy up front: a batch is then a gather on the device, with no transfer per step.
        self.images = dataset.images.to(self.device)
        self.labels = dataset.labels.to(self.device)

    def _iterate(self, epoch: int, start: int) -> Iterator[Batch]:
        for i, batch, rows in self._plan(epoch, start):
            generator = torch.Generator().manual_seed(seed_of(self.seed, epoch, i))
            draws = self.transform.draw(len(batch), generator)
            index = batch[rows].to(self.device)
            images = self.transform.apply(self.images[index], tuple(d[rows] for d in draws))
            yield images, self.labels[index]
