"""Squeeze-and-Excitation (Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018).

s = sigmoid(W2 ReLU(W1 GAP(x) + b1) + b2), y = x * s, with W1: C -> C/r and W2: C/r -> C (r = 16).
The two fully connected layers are 1x1 convolutions (same parameters, no reshape), as in timm.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ._checks import check_feature_map, check_positive
from .base import AttentionModule
from .registry import register_attention


@register_attention("se")
class SE(AttentionModule):
    option_help: ClassVar[dict[str, str]] = {
        "reduction": "r, the ratio of C to the hidden width",
        "min_channels": "L, the smallest hidden width",
    }

    def __init__(self, channels: int, reduction: int = 16, min_channels: int = 1) -> None:
        super().__init__()
        check_positive("SE", "reduction", reduction)
        self.channels = channels
        hidden = max(channels // reduction, min_channels)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("SE", x, self.channels)
        s = self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(s)
