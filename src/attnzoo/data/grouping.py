"""Aspect-ratio grouping of detection batches, as torchvision's detection reference and MMDetection.

A detector pads the images of a batch to its largest height and width, so a batch of landscape and
portrait images is mostly padding. torchvision's reference (``create_aspect_ratio_groups`` and
``GroupedBatchSampler``, ``--aspect-ratio-group-factor 3``) and MMDetection's ``GroupSampler``
(two groups: wider than tall or not) batch images of one aspect-ratio group together, following
the shuffled order as closely as the grouping allows.

Deviation: both fill a group's last, incomplete batch with repeated images of the group; here the
leftovers of all groups (fewer than a batch each) are batched together at the end of the epoch,
so every image is seen once per epoch, as without grouping, and the number of batches is the
same; at most ``groups - 1`` batches mix groups.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..validation import AttnzooError


def aspect_ratio_groups(ratios: Sequence[float], factor: int) -> torch.Tensor:
    """The group of each width / height ratio: ``2 * factor + 2`` groups between the edges
    ``2 ** linspace(-1, 1, 2 * factor + 1)`` (factor 0: the single edge 1, MMDetection's two
    groups), a ratio on an edge going to the group above it (torchvision's ``bisect_right``)."""
    if factor < 0:
        raise AttnzooError(f"aspect-ratio group factor must be >= 0, got {factor}")
    edges = 2 ** np.linspace(-1, 1, 2 * factor + 1) if factor else np.ones(1)
    return torch.from_numpy(np.searchsorted(edges, np.asarray(ratios), side="right"))


def grouped_order(order: torch.Tensor, groups: torch.Tensor, size: int) -> torch.Tensor:
    """``order`` rearranged so that its chunks of ``size`` are each of one group but the last
    (mixed) ones: walking ``order``, a group's chunk is emitted as soon as it holds ``size``
    indices (torchvision's ``GroupedBatchSampler``); the groups' leftovers follow, in ``order``."""
    group_of = groups.tolist()
    pending: dict[int, list[int]] = {}
    chunks: list[int] = []
    for index in order.tolist():
        bucket = pending.setdefault(group_of[index], [])
        bucket.append(index)
        if len(bucket) == size:
            chunks += bucket
            bucket.clear()
    emitted = set(chunks)
    chunks += [index for index in order.tolist() if index not in emitted]
    return torch.tensor(chunks, dtype=order.dtype)
