"""ECA: Efficient Channel Attention (Wang, Wu, Zhu, Li, Zuo, Hu, "ECA-Net", CVPR 2020).

s = sigmoid(conv1d_k(GAP(x))), y = x * s: one bias-free 1-D convolution of odd size k slides over
the C pooled channel values (zero padding (k - 1) / 2), so each gate sees its k neighbours and the
module has only k parameters. The kernel size adapts to the width as in the authors' code
(github.com/BangguWu/ECANet): t = int(|(log2(C) + b) / gamma|), k = t if t is odd else t + 1, with
gamma = 2, b = 1 (C = 64 -> 3, 128 -> 5, 256 -> 5, 512 -> 5, 1024 -> 5, 2048 -> 7).

Deviation / note: the paper writes k as the *nearest* odd number to log2(C) / gamma + b / gamma; the
code rounds ties (an even integer, e.g. C = 128 or 2048) up, and that is what this module does.
The authors' released ImageNet ResNet-50 used per-stage sizes 3, 5, 5, 7 (their "k3557" model, 80
parameters in all), not the formula's 5, 5, 5, 7 (86 parameters); ``kernel_size`` overrides k.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import check_feature_map, check_positive
from .base import AttentionModule
from .registry import register_attention


def eca_kernel_size(channels: int, gamma: float = 2.0, b: float = 1.0) -> int:
    """The authors' adaptive kernel size: int(|(log2 C + b) / gamma|), made odd by adding 1."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


@register_attention("eca")
class ECA(AttentionModule):
    def __init__(
        self, channels: int, gamma: float = 2.0, b: float = 1.0, kernel_size: int | None = None
    ) -> None:
        super().__init__()
        check_positive("ECA", "gamma", gamma)
        if kernel_size is None:
            kernel_size = eca_kernel_size(channels, gamma, b)
        elif isinstance(kernel_size, bool) or not isinstance(kernel_size, int):
            raise ValueError(f"ECA: kernel_size must be a positive odd int, got {kernel_size!r}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"ECA: kernel_size must be a positive odd int, got {kernel_size!r}")
        self.channels = channels
        self.kernel_size = kernel_size
        # Same layer and name as the authors' code, so their weights load as they are.
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("ECA", x, self.channels)
        s = self.conv(x.mean((2, 3)).unsqueeze(1))  # (N, 1, C): channels as a 1-D sequence
        return x * torch.sigmoid(s).view(x.shape[0], self.channels, 1, 1)
