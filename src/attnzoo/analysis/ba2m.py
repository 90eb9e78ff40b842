"""BA2M's per-sample weights, the samples' losses and the SAR maps of a trained network.

BA2M acts only in training (its weights are N * softmax over the batch), so everything here runs
the network's training forward (see :func:`training_forward`) on fixed batches, reads each BA2M
module's input with a forward pre-hook and calls the module's own ``batch_weights`` and
``attention_representation`` on it: the numbers are the module's, not a re-derivation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..attention.ba2m import BA2M
from ..validation import AttnzooError

DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def ba2m_modules(model: nn.Module) -> dict[str, BA2M]:
    """The model's BA2M modules by their qualified names (e.g. ``stage_attn.0``)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, BA2M)}


@contextmanager
def training_forward(model: nn.Module) -> Iterator[None]:
    """Run ``model`` as in training, deterministically, and leave it as it was.

    BatchNorm stays in train mode, normalising with each batch's statistics as the forward that
    trained the weights did: BA2M's branches are batch-normalised (the CA branch's BN1d couples
    the samples too), so eval-mode BatchNorm would give weights that training never produced.
    Train mode also updates the running statistics as a side effect; every buffer is restored on
    exit. Dropout is off: its random masks would add noise that has nothing to do with BA2M.
    BA2M's ``sync="global"`` becomes "local": with one process the two are the same softmax.
    """
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    modes = {m: m.training for m in model.modules()}
    syncs = {m: m.sync for m in ba2m_modules(model).values()}
    model.train()
    for m in model.modules():
        if isinstance(m, DROPOUT):
            m.eval()
    for m in syncs:
        m.sync = "local"
    try:
        yield
    finally:
        for m, training in modes.items():
            m.training = training
        for m, sync in syncs.items():
            m.sync = sync
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])


@contextmanager
def _module_inputs(modules: dict[str, BA2M]) -> Iterator[dict[str, torch.Tensor]]:
    """A dict that holds each module's input of the latest forward, while the context lasts."""
    inputs: dict[str, torch.Tensor] = {}

    def keeper(name: str):
        return lambda _, args: inputs.__setitem__(name, args[0])

    handles = [m.register_forward_pre_hook(keeper(name)) for name, m in modules.items()]
    try:
        yield inputs
    finally:
        for handle in handles:
            handle.remove()


def _require_ba2m(model: nn.Module) -> dict[str, BA2M]:
    modules = ba2m_modules(model)
    if not modules:
        raise AttnzooError(f"{type(model).__name__} has no BA2M module")
    return modules


@torch.no_grad()
def weights_and_losses(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Each BA2M module's weight of each sample, and each sample's cross-entropy, batch by batch.

    Returns ({module name: (samples,)}, (samples,)) in the order of the batches. A sample's
    weight is its N * softmax over its batch; with ``sar="spatial"`` (a softmax per position), the
    mean over positions of its weight map. Either way a batch's weights average to 1 under
    ``scale="N"``.
    """
    modules = _require_ba2m(model)
    weights: dict[str, list[torch.Tensor]] = {name: [] for name in modules}
    losses = []
    with training_forward(model), _module_inputs(modules) as inputs:
        for images, labels in batches:
            logits = model(images).float()
            losses.append(F.cross_entropy(logits, labels, reduction="none"))
            for name, m in modules.items():
                weights[name].append(m.batch_weights(inputs[name]).mean((1, 2, 3)))
    return {name: torch.cat(w) for name, w in weights.items()}, torch.cat(losses)


@torch.no_grad()
def sar_maps(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each BA2M module's SAR per position for a batch, upsampled to the images: (N, H, W) each.

    With ``sar="sample"`` the module averages this map over the positions into one score per
    sample; here a shallow copy of it with ``sar="spatial"`` returns the map before that mean
    (the copy shares every weight, and the original module is not touched).
    """
    modules = _require_ba2m(model)
    maps = {}
    with training_forward(model), _module_inputs(modules) as inputs:
        model(images)
        for name, m in modules.items():
            spatial = copy.copy(m)
            spatial.sar = "spatial"
            s = spatial.attention_representation(inputs[name]).float()
            size = images.shape[-2:]
            maps[name] = F.interpolate(s, size=size, mode="bilinear", align_corners=False)[:, 0]
    return maps


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN if either input is constant (the correlation is undefined)."""
    x, y = x - x.mean(), y - y.mean()
    norm = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / norm) if norm > 0 else float("nan")


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties given the mean of the ranks they span."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts  # the rank of each distinct value's first occurrence
    return (first + (counts - 1) / 2)[inverse]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (Pearson's on the ranks, ties averaged)."""
    return pearson(_ranks(x), _ranks(y))
