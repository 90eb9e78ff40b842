"""GC: global context block (Cao, Xu, Lin, Wei, Hu, "GCNet: Non-local Networks Meet
Squeeze-Excitation Networks and Beyond", ICCVW 2019).

    context = sum_j softmax_j(W_k x_j + b_k) x_j               attention pooling: C -> 1 logit map
    delta   = W_2 ReLU(LN(W_1 context + b_1)) + b_2             C -> C/r -> C, LayerNorm over C/r
    y       = x + delta                                         fusion by broadcast addition

Follows the authors' code (github.com/xvjiarui/GCNet, kept as mmcv's ``ContextBlock``): layer
names ``conv_mask`` / ``channel_add_conv`` as there, all 1x1 convolutions with biases, LayerNorm
over [C/r, 1, 1], ``conv_mask`` Kaiming-normal (fan-in) with zero bias, and the last convolution of
the transform zero-initialised, so the block starts as the identity. r = 16 (``reduction``).
``fusion="mul"`` (y = x * sigmoid(delta')) and ``"both"`` (the code's "channel_mul" then
"channel_add", each with its own transform) are the code's other fusions.

The pooling is single-query attention, so it runs as ``scaled_dot_product_attention`` with the
query W_k, keys = values = the C-vectors x_j, scale 1 and b_k as an additive mask: the same softmax
and weighted sum (b_k cancels in the softmax, as it does in the code, but keeps its gradient).

Where it goes: inside the residual blocks, after the last BN, in every stage but the first by
default: the "c3-c5" setting of GCNet's ResNet-50 configs, which gives exactly the published
28.08M (BA2M Table V). ``stages=[1, 2, 3, 4]`` puts it in every block (28.11M); BA2M's ResNet-101
row, 49.36M, is that setting.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_choice, check_feature_map, check_positive
from .base import AttentionModule
from .registry import register_attention

FUSIONS = ("add", "mul", "both")


def _transform(channels: int, hidden: int, zero_last: bool) -> nn.Sequential:
    layers = nn.Sequential(
        nn.Conv2d(channels, hidden, 1),
        nn.LayerNorm([hidden, 1, 1]),
        nn.ReLU(inplace=True),
        nn.Conv2d(hidden, channels, 1),
    )
    if zero_last:
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
    return layers


@register_attention("gc")
class GC(AttentionModule):
    default_stages = "all_but_first"  # GCNet's c3-c5: the blocks of stages 2-4 of a ResNet

    option_help: ClassVar[dict[str, str]] = {
        "reduction": "r, the ratio of C to the hidden width",
        "min_channels": "L, the smallest hidden width",
        "fusion": "'add', 'mul' or 'both'",
    }

    def __init__(
        self, channels: int, reduction: int = 16, min_channels: int = 1, fusion: str = "add"
    ) -> None:
        super().__init__()
        check_positive("GC", "reduction", reduction)
        check_choice("GC", "fusion", fusion, FUSIONS)
        self.channels, self.fusion = channels, fusion
        hidden = max(int(channels // reduction), min_channels)
        self.conv_mask = nn.Conv2d(channels, 1, 1)
        nn.init.kaiming_normal_(self.conv_mask.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(self.conv_mask.bias)
        # The code zero-initialises the last layer of every transform it builds.
        self.channel_add_conv = _transform(channels, hidden, True) if fusion != "mul" else None
        self.channel_mul_conv = _transform(channels, hidden, True) if fusion != "add" else None

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """Attention pooling: the softmax-weighted mean of the C-vectors, shape (N, C, 1, 1)."""
        n, c = x.shape[:2]
        tokens = x.flatten(2).transpose(1, 2).unsqueeze(1)  # (N, 1, HW, C): keys and values
        query = self.conv_mask.weight.view(1, 1, 1, c).expand(n, 1, 1, c).to(x.dtype)
        bias = self.conv_mask.bias.view(1, 1, 1, 1).to(x.dtype)
        pooled = F.scaled_dot_product_attention(query, tokens, tokens, attn_mask=bias, scale=1.0)
        return pooled.view(n, c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("GC", x, self.channels)
        return fuse_context(x, self.context(x), self.channel_mul_conv, self.channel_add_conv)


def fuse_context(
    x: torch.Tensor, context: torch.Tensor, mul: nn.Module | None, add: nn.Module | None
) -> torch.Tensor:
    """The code's fusions, in its order: x * sigmoid(mul(context)), then + add(context).

    Plain operators, shared with GC's plain-PyTorch peer (``attnzoo.benchmarks.peers``), which
    differs from GC only in how it pools the context."""
    if mul is not None:
        x = x * torch.sigmoid(mul(context))
    if add is not None:
        x = x + add(context)
    return x
