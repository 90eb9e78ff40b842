"""CBAM: Convolutional Block Attention Module (Woo, Park, Lee, Kweon, ECCV 2018).

Channel attention, then spatial attention, applied in sequence:

    Mc = sigmoid(MLP(GAP(x)) + MLP(GMP(x)))          shared MLP C -> C/r -> C, biases, ReLU inside
    x1 = x * Mc
    Ms = sigmoid(BN(conv7x7([mean_C(x1); max_C(x1)])))   conv 2 -> 1, padding 3, no bias
    y  = x1 * Ms

Follows the paper's channel order [mean; max] for the spatial descriptor (the authors' code stacks
[max; mean], which only permutes the conv's input weights). As in the authors' code
(github.com/Jongchan/attention-module), the spatial BN weight starts at 0 so Ms starts at 0.5
everywhere, and that BN updates its running statistics with momentum 0.01 (their ``BasicConv``),
not PyTorch's default 0.1; ``bn_momentum=0.1`` gives this module's behaviour before it followed
the code. Pooling and gating go through :mod:`._ops`, whose backward passes allocate fewer
full-size tensors.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..validation import AttnzooError
from . import _ops
from ._checks import check_feature_map, check_momentum, check_positive, check_train_positions
from .base import AttentionModule
from .registry import register_attention


@register_attention("cbam")
class CBAM(AttentionModule):
    option_help: ClassVar[dict[str, str]] = {
        "reduction": "r, the ratio of C to the MLP's hidden width",
        "kernel_size": "K, the spatial convolution's size (odd)",
        "min_channels": "L, the smallest hidden width",
        "bn_momentum": "the spatial BN's momentum, as nn.BatchNorm2d's (0.01: the authors' "
        "code; 0.1: PyTorch's default, used here before; None: a cumulative average)",
    }

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        kernel_size: int = 7,
        min_channels: int = 1,
        bn_momentum: float | None = 0.01,
    ) -> None:
        super().__init__()
        check_positive("CBAM", "reduction", reduction)
        check_momentum("CBAM", "bn_momentum", bn_momentum)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise AttnzooError(f"CBAM: kernel_size must be a positive odd int, got {kernel_size!r}")
        self.channels = channels
        hidden = max(channels // reduction, min_channels)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1)
        )
        self.spatial_conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.spatial_bn = nn.BatchNorm2d(1, momentum=bn_momentum)
        nn.init.zeros_(self.spatial_bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("CBAM", x, self.channels)
        check_train_positions("CBAM", x, self.training, "BatchNorm after the spatial convolution")
        avg = self.mlp(_ops.mean(x, (2, 3)))
        peak = self.mlp(_ops.amax(x, (2, 3)))
        x = _ops.scale(x, torch.sigmoid(avg + peak))
        descriptor = torch.cat([_ops.mean(x, (1,)), _ops.amax(x, (1,))], dim=1)
        return _ops.scale(x, torch.sigmoid(self.spatial_bn(self.spatial_conv(descriptor))))
