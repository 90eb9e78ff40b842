"""SGE: Spatial Group-wise Enhance (Li, Hu, Yang, "Spatial Group-wise Enhance", arXiv 1905.09646).

The C channels are split into G groups (G = 64). In each group, with x_i the (C / G)-vector of the
group at position i and g = GAP(x) its mean over positions:

    c_i = g . x_i                            similarity of position i to the group's global feature
    n_i = (c_i - mean(c)) / (std(c) + eps)   normalised over the H * W positions
    y_i = x_i * sigmoid(gamma * n_i + beta)  gamma, beta: one pair per group

Follows the authors' code (github.com/implus/PytorchInsight, classification/models/imagenet/
resnet_sge.py): std is ``torch.std`` (unbiased, 1 / (HW - 1)) and eps = 1e-5 is added to the
standard deviation, not the variance; gamma (``weight``) starts at 0 and beta (``bias``) at 1, so
the module starts as y = sigmoid(1) * x.

Group count: the code only runs when G divides C. Here, when it does not, the module uses the
largest divisor of C that is at most G (e.g. 8 channels -> 8 groups, 116 -> 58), so every backbone
width works; ``strict=True`` raises a ValueError instead. Numerical deviations only: statistics in
float32 for half-precision inputs, and std = 0 for a map with a single position (torch.std's
unbiased estimate is NaN there).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..validation import AttnzooError
from ._checks import check_feature_map, check_positive
from .base import AttentionModule
from .registry import register_attention


def sge_groups(channels: int, groups: int) -> int:
    """The largest divisor of ``channels`` that is at most ``groups``."""
    return max(d for d in range(1, min(groups, channels) + 1) if channels % d == 0)


@register_attention("sge")
class SGE(AttentionModule):
    option_help: ClassVar[dict[str, str]] = {
        "groups": "G, the number of groups",
        "eps": "added to the standard deviation",
        "strict": "refuse a C that groups does not divide, instead of using fewer groups",
    }

    def __init__(
        self, channels: int, groups: int = 64, eps: float = 1e-5, strict: bool = False
    ) -> None:
        super().__init__()
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise AttnzooError(f"SGE: groups must be a positive int, got {groups!r}")
        check_positive("SGE", "eps", eps)
        if strict and channels % groups:
            raise AttnzooError(
                f"SGE: channels ({channels}) must be divisible by groups ({groups}) with "
                f"strict=True; without it, {sge_groups(channels, groups)} groups would be used"
            )
        self.channels, self.groups, self.eps = channels, sge_groups(channels, groups), eps
        self.weight = nn.Parameter(torch.zeros(1, self.groups, 1, 1))
        self.bias = nn.Parameter(torch.ones(1, self.groups, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("SGE", x, self.channels)
        n, c, h, w = x.shape
        xg = x.reshape(n, self.groups, c // self.groups, h, w)
        sim = (xg * xg.mean((3, 4), keepdim=True)).sum(2).flatten(2)  # (N, G, HW)
        if sim.dtype in (torch.float16, torch.bfloat16):
            sim = sim.float()
        correction = 1 if h * w > 1 else 0
        # torch's std backward is finite (zero) for a constant map, unlike sqrt(var)'s.
        std, mean = torch.std_mean(sim, dim=2, correction=correction, keepdim=True)
        t = ((sim - mean) / (std + self.eps)).view(n, self.groups, h, w)
        gate = torch.sigmoid(t * self.weight + self.bias).to(x.dtype)
        return (xg * gate.unsqueeze(2)).reshape(n, c, h, w)
