"""BatchNorm statistics re-estimated for the network as it runs at inference.

A BA2M network trained with ``scale="none"`` multiplies each stage's output by weights that sum to
1 over the batch (about 1/N each), and its BatchNorm layers' running statistics are gathered on
those scaled features. Evaluated with the module switched off (``eval_mode="identity"``, the
BA2M paper's protocol, Cheng et al., 2021), the same layers see features about N times larger
than the statistics they normalise by. Re-estimating the statistics with the module off separates
the two questions: did the network learn, and does switching the module off fit its statistics?

The re-estimate is the one of ``torch.optim.swa_utils.update_bn`` (the running mean and variance
replaced by the plain average of the per-batch statistics, ``momentum=None``), except that only the
BatchNorm layers run in training mode: the rest of the network, its attention modules included,
runs as at inference, so that BA2M is the identity while the statistics are gathered.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ..data import BatchLoader
from ..engine.classification import evaluate
from ..engine.data import eval_transform
from ..validation import AttnzooError
from .common import load_trained


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Replace every BatchNorm layer's running mean and variance of ``model`` by their averages
    over ``batches`` (images), with every other module in eval mode; returns the images seen.

    ``model`` is left in eval mode with its layers' momentum as it was.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise AttnzooError(f"{type(model).__name__} has no BatchNorm layer to recalibrate")
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: every batch weighs the same
        m.train()
    seen = 0
    try:
        for images in batches:
            model(images)
            seen += len(images)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.eval()
    if seen == 0:
        raise AttnzooError("no images to recalibrate the BatchNorm statistics with")
    return seen


def recalibrated_model(
    path: str | os.PathLike,
    attention_options: dict[str, dict[str, Any]] | None = None,
    *,
    data: str | None = None,
    seed: int = 0,
    download: bool = True,
) -> tuple[nn.Module, int]:
    """A checkpoint's network, with ``attention_options`` (e.g. BA2M's ``eval_mode``), its
    BatchNorm statistics re-estimated on the run's training images: the images it trained on (its
    ``train_per_class``), without augmentation, in batches of its training batch size in one
    shuffled order (``seed``). Returns the network and the number of images."""
    trained = load_trained(path)
    model = trained.model_with(attention_options or {})
    train = trained.images(data, "train", trained.config.train_per_class, download)
    loader = BatchLoader(
        train,
        trained.config.batch_size,
        shuffle=True,
        drop_last=False,
        seed=seed,
        transform=eval_transform(trained.state["data"]),
    )
    loader.set_epoch(0)
    return model, recalibrate_batchnorm(model, (images for images, _ in loader))


def evaluate_recalibrated(
    path: str | os.PathLike,
    attention_options: dict[str, dict[str, Any]] | None = None,
    *,
    data: str | None = None,
    per_class: int | None = None,
    batch_size: int = 500,
    download: bool = True,
) -> dict[str, Any]:
    """Test loss, top-1 and top-5 (%) of :func:`recalibrated_model`, the test split read as by
    ``attnzoo eval`` (the first ``per_class`` images of each class, or all, in file order)."""
    model, seen = recalibrated_model(path, attention_options, data=data, download=download)
    trained = load_trained(path)
    test = BatchLoader(
        trained.images(data, "test", per_class, download),
        batch_size,
        shuffle=False,
        drop_last=False,
        transform=eval_transform(trained.state["data"]),
    )
    return {"checkpoint": str(path), **evaluate(model, test), "recalibrated_on": seen}
