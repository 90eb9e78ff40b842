"""Classification losses: cross-entropy, and the loss re-weighting BA2M is compared with.

BA2M re-weights samples by their features; the paper contrasts it with methods that re-weight
them by their loss (its Tables III-IV, on detection). For classification we provide:

- focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017):
  ``-(1 - p_t)^gamma * log p_t``, with p_t the predicted probability of the true class;
  gamma = 0 is cross-entropy.
- online hard example mining (Shrivastava et al., CVPR 2016), in its classification form:
  the mean cross-entropy of the ``ohem_fraction`` hardest samples of the batch (top-k loss).
  Under data parallelism each process keeps the hardest of its own batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..validation import AttnzooError

LOSSES = ("ce", "focal", "ohem")


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float) -> torch.Tensor:
    log_p = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    return -((1 - log_p.exp()).pow(gamma) * log_p).mean()


def ohem_loss(
    logits: torch.Tensor, labels: torch.Tensor, fraction: float, label_smoothing: float = 0.0
) -> torch.Tensor:
    losses = F.cross_entropy(logits, labels, reduction="none", label_smoothing=label_smoothing)
    keep = max(1, math.ceil(fraction * len(losses)))
    return losses.topk(keep, sorted=False).values.mean()


def classification_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    kind: str = "ce",
    label_smoothing: float = 0.0,
    focal_gamma: float = 2.0,
    ohem_fraction: float = 0.7,
) -> torch.Tensor:
    """The training loss ``kind`` ("ce", "focal" or "ohem") of a batch, as a scalar."""
    if kind == "ce":
        return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    if kind == "focal":
        return focal_loss(logits, labels, focal_gamma)
    if kind == "ohem":
        return ohem_loss(logits, labels, ohem_fraction, label_smoothing)
    raise AttnzooError(f"unknown loss {kind!r}; valid: {', '.join(LOSSES)}")
