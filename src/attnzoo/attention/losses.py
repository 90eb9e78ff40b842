"""Auxiliary losses that attention modules contribute to training.

A module that regularises its own parameters (SPEM's alpha * sum p^2) overrides the
:meth:`~attnzoo.attention.base.AttentionModule.aux_loss` hook; the trainer adds :func:`aux_loss`
of the whole model to the task loss and so never needs to know which modules have one.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import AttentionModule


def aux_loss(model: nn.Module) -> torch.Tensor:
    """Sum of ``aux_loss()`` over every attention module that has one (a zero scalar if none
    does)."""
    # The hook is declared on AttentionModule; a module of the user's own (timm-style classes are
    # accepted as attention) that defines ``aux_loss()`` without the base class counts too.
    hooks = (
        m.aux_loss
        for m in model.modules()
        if isinstance(m, AttentionModule) or callable(getattr(m, "aux_loss", None))
    )
    terms = [t for t in (hook() for hook in hooks) if t is not None]
    if not terms:
        param = next(model.parameters(), None)
        return torch.zeros((), device=param.device if param is not None else None)
    return torch.stack(terms).sum()
