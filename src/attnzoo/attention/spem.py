"""SPEM: self-adaptive max/min pooling attention (Zhong, Wen, Qin, MMM 2023).

Follows the authors' public code, which produced the published numbers (the paper's figure differs
slightly). Per-channel parameters w1, b1, w2, b2 start at w = 0, b = -1, and one pair p = (p1, p2)
per module starts at (0.5, 0.5):

    u = w2 * GMP(x) + b2,  l = w2 * GMin(x) + b2
    lambda = p1^2 / (p1^2 + p2^2)
    y = x * sigmoid(u + l) * sigmoid(w1 * (lambda * u + (1 - lambda) * l) + b1)

At initialisation y = sigmoid(-2) * sigmoid(-1) * x, about 0.032 x. The module adds
alpha * (p1^2 + p2^2) to the training loss through :meth:`aux_loss` (alpha = 0.1). Pooling and
gating go through :mod:`._ops`, whose backward passes allocate fewer full-size tensors.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..validation import AttnzooError
from . import _ops
from ._checks import check_feature_map
from .base import AttentionModule
from .registry import register_attention


@register_attention("spem")
class SPEM(AttentionModule):
    option_help: ClassVar[dict[str, str]] = {
        "alpha": "the weight of the auxiliary loss on p",
    }

    def __init__(self, channels: int, alpha: float = 0.1) -> None:
        super().__init__()
        if alpha < 0:
            raise AttnzooError(f"SPEM: alpha must be non-negative, got {alpha!r}")
        self.channels = channels
        self.alpha = alpha
        shape = (1, channels, 1, 1)
        self.w1 = nn.Parameter(torch.zeros(shape))
        self.b1 = nn.Parameter(torch.full(shape, -1.0))
        self.w2 = nn.Parameter(torch.zeros(shape))
        self.b2 = nn.Parameter(torch.full(shape, -1.0))
        self.p = nn.Parameter(torch.full((2,), 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("SPEM", x, self.channels)
        u = self.w2 * _ops.amax(x, (2, 3)) + self.b2
        l = self.w2 * _ops.amin(x, (2, 3)) + self.b2  # noqa: E741 (the paper's name)
        p_sq = self.p.square()
        lam = p_sq[0] / p_sq.sum()
        v_rew = torch.sigmoid(u + l)
        v_exc = torch.sigmoid(self.w1 * (lam * u + (1 - lam) * l) + self.b1)
        return _ops.scale(x, v_rew * v_exc)  # the two (N, C) gates first: one full-size pass

    def aux_loss(self) -> torch.Tensor:
        return self.alpha * self.p.square().sum()
