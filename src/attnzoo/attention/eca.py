"""ECA: Efficient Channel Attention (Wang, Wu, Zhu, Li, Zuo, Hu, "ECA-Net", CVPR 2020).

s = sigmoid(conv1d_k(GAP(x))), y = x * s: one bias-free 1-D convolution of odd size k slides over
the C pooled channel values (zero padding (k - 1) / 2), so each gate sees its k neighbours and the
module has only k parameters. The kernel size adapts to the width by the paper's rule,
k = |log2(C) / gamma + b / gamma|_odd, "the nearest odd number" to t = (log2(C) + b) / gamma, with
gamma = 2, b = 1 (C = 64 -> 3, 128 -> 5, 256 -> 5, 512 -> 5, 1024 -> 5, 2048 -> 7).

Rounding: k is computed as int(|t|), plus 1 when that is even, the form most ports use (timm's
EcaModule too, which also raises k to at least 3). That is the nearest odd number except where t
is an even integer, a tie the paper leaves open, which it breaks upwards: at
gamma = 2, b = 1 the ties are C = 8, 128, 2048 and 32768 (t = 2, 4, 6, 8), where k = 3, 5, 7, 9
and 1, 3, 5, 7 would be as near. The authors' repository (github.com/BangguWu/ECANet) does not
compute k: its models take one k per stage (3 unless given), and their released ImageNet ResNet-50
used 3, 5, 5, 7 (their "k3557" model, 80 parameters in all), not the rule's 5, 5, 5, 7 (86
parameters); ``kernel_size`` overrides k.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from ..validation import AttnzooError
from ._checks import check_feature_map, check_positive
from .base import AttentionModule
from .registry import register_attention


def eca_kernel_size(channels: int, gamma: float = 2.0, b: float = 1.0) -> int:
    """The paper's adaptive kernel size, the odd number nearest to t = (log2 C + b) / gamma,
    computed as int(|t|) made odd by adding 1 (a tie, t an even integer, goes up)."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


@register_attention("eca")
class ECA(AttentionModule):
    option_help: ClassVar[dict[str, str]] = {
        "gamma": "gamma in the kernel-size rule",
        "b": "b in the kernel-size rule",
        "kernel_size": "k itself (odd), overriding the rule",
    }

    def __init__(
        self, channels: int, gamma: float = 2.0, b: float = 1.0, kernel_size: int | None = None
    ) -> None:
        super().__init__()
        check_positive("ECA", "gamma", gamma)
        if kernel_size is None:
            kernel_size = eca_kernel_size(channels, gamma, b)
        elif isinstance(kernel_size, bool) or not isinstance(kernel_size, int):
            raise AttnzooError(f"ECA: kernel_size must be a positive odd int, got {kernel_size!r}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise AttnzooError(f"ECA: kernel_size must be a positive odd int, got {kernel_size!r}")
        self.channels = channels
        self.kernel_size = kernel_size
        # Same layer and name as the authors' code, so their weights load as they are.
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("ECA", x, self.channels)
        s = self.conv(x.mean((2, 3)).unsqueeze(1))  # (N, 1, C): channels as a 1-D sequence
        return x * torch.sigmoid(s).view(x.shape[0], self.channels, 1, 1)
