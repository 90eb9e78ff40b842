"""Auxiliary losses that attention modules contribute to training.

A module that regularises its own parameters (SPEM's alpha * sum p^2) exposes a method
``aux_loss() -> Tensor``; the trainer adds :func:`aux_loss` of the whole model to the task loss
and so never needs to know which modules have one.
"""

from __future__ import annotations

import torch
from torch import nn


def aux_loss(model: nn.Module) -> torch.Tensor:
    """Sum of ``aux_loss()`` over every submodule that defines it (a zero scalar if none does)."""
    terms = [m.aux_loss() for m in model.modules() if callable(getattr(m, "aux_loss", None))]
    if not terms:
        param = next(model.parameters(), None)
        return torch.zeros((), device=param.device if param is not None else None)
    return torch.stack(terms).sum()
