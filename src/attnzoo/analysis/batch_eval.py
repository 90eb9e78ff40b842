"""``attnzoo batch-eval``: does BA2M's batch softmax change predictions at inference?

The BA2M paper (Cheng et al., 2021) switches the module off at test time, so that a prediction does
not depend on which other images share its batch. This measures what that choice is worth for a
trained network: its test predictions with the module as the identity (``eval_mode="identity"``,
the default) against those with the softmax over the test batch (``eval_mode="batch"``), at several
test batch sizes. The test images are visited in one fixed shuffled order (``seed``), the same for
every batch size, so that batches mix classes as a user's batches would and each image is compared
with itself. A batch of one always gets weight 1, so at batch size 1 the two modes agree.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from ..data import BatchLoader
from ..engine.data import eval_transform
from ..markdown import table
from ..validation import AttnzooError
from .common import load_trained


@torch.no_grad()
def _predict(model: torch.nn.Module, loader: BatchLoader) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true labels over one pass of ``loader``, in its order."""
    model.eval()
    loader.set_epoch(0)
    predicted, labels = [], []
    for images, target in loader:
        predicted.append(model(images).argmax(1))
        labels.append(target)
    return torch.cat(predicted), torch.cat(labels)


def batch_softmax_effect(
    path: str | os.PathLike,
    batch_sizes: Sequence[int] = (1, 32, 256),
    *,
    data: str | None = None,
    per_class: int | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Per test batch size: top-1 (%) with BA2M as the identity and with the batch softmax, and
    the share (%) of test images whose predicted class differs between the two."""
    if not batch_sizes or min(batch_sizes) < 1:
        raise AttnzooError(f"batch sizes must be positive, got {list(batch_sizes)}")
    trained = load_trained(path)
    if "ba2m" not in trained.config.attention:
        raise AttnzooError(f"{path}: has no BA2M module (attention {trained.config.attention})")
    batch_model = trained.model_with({"ba2m": {"eval_mode": "batch"}})
    identity_model = trained.model_with({"ba2m": {"eval_mode": "identity"}})
    dataset = trained.images(data, "test", per_class)

    def loader(batch_size: int) -> BatchLoader:
        return BatchLoader(
            dataset,
            batch_size,
            shuffle=True,
            drop_last=False,
            seed=seed,
            transform=eval_transform(trained.state["data"]),
        )

    reference, labels = _predict(identity_model, loader(max(batch_sizes)))
    rows = []
    for batch_size in batch_sizes:
        predicted, order = _predict(batch_model, loader(batch_size))
        assert torch.equal(order, labels)  # the same images in the same order
        rows.append(
            {
                "checkpoint": str(path),
                "label": trained.label,
                "images": len(labels),
                "batch_size": batch_size,
                "top1_identity": 100 * (reference == labels).float().mean().item(),
                "top1_batch": 100 * (predicted == labels).float().mean().item(),
                "changed": 100 * (predicted != reference).float().mean().item(),
            }
        )
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        "checkpoint",
        "test images",
        "batch size",
        "top-1 identity (%)",
        "top-1 batch softmax (%)",
        "predictions changed (%)",
    )
    body = [
        (
            r["checkpoint"],
            r["images"],
            r["batch_size"],
            f"{r['top1_identity']:.2f}",
            f"{r['top1_batch']:.2f}",
            f"{r['changed']:.2f}",
        )
        for r in rows
    ]
    return table(head, body, "lrrrrr")
