"""SASA: local self-attention layer (Ramachandran, Parmar, Vaswani, Bello, Levskaya, Shlens,
"Stand-Alone Self-Attention in Vision Models", NeurIPS 2019), in place of a spatial convolution.

Each output pixel attends to its k x k neighbourhood N_k(i, j) (k = 7, 8 heads in the paper's
ResNets). Per head, with q, k, v from bias-free 1x1 convolutions (Eq. 2-3),

    y_ij = sum_{(a, b) in N_k(i, j)} softmax_ab(q_ij . k_ab + q_ij . r_{a-i, b-j}) v_ab,

where r_{a-i, b-j} concatenates a row-offset embedding r_{a-i} and a column-offset embedding
r_{b-j}, each of half the head's channels: the first half of q meets the row offsets, the second
half the column offsets. Each head has its own embeddings, as it has its own W_Q, W_K, W_V. Spatial
downsampling is a 2x2 average pooling with stride 2 after the attention, as the paper does.

Where the paper is silent, or we differ, and why:

* Borders: N_k(i, j) is a set of image pixels, so neighbours outside the image are masked out of
  the softmax. Zero-padded keys (leaderj1001's port, timm's halo attention) would instead give
  every border pixel extra logits q . r with zero values, which shrink its output.
* ``scaled`` (default True) divides the logits by sqrt(head dim) as the Transformer that the paper
  builds on, and AA's Eq. 1, do; the paper's Eq. 2-3 write none, which ``scaled=False`` gives.
  Without it the logits of wide heads start large and the softmax nearly one-hot.
* ``groups`` (a ResNeXt's cardinality) groups the q, k, v projections, the analogue of the grouped
  3x3 convolution replaced; the paper only builds ResNets (groups=1).
* Pooling is in ceil mode, so an odd-sized map gives the size of the strided shortcut.
* Neighbourhoods come from ``F.unfold`` and the products are einsums, so the FLOP counter sees
  them (k^2 * (dk + dv) multiply-adds per pixel, plus k * dk for the relative logits).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_feature_map, check_positive
from .base import ConvAttentionModule
from .registry import register_attention


@register_attention("sasa")
class SASA(ConvAttentionModule):
    """k x k local self-attention in place of a convolution (see the module docstring)."""

    def __init__(
        self,
        channels: int,
        out_channels: int | None = None,
        stride: int = 1,
        groups: int = 1,
        kernel_size: int = 7,
        heads: int = 8,
        scaled: bool = True,
    ) -> None:
        super().__init__(channels, out_channels, stride, groups)
        out = self.out_channels
        check_positive("SASA", "heads", heads)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"SASA: kernel_size must be a positive odd int, got {kernel_size!r}")
        if out % (2 * heads):
            raise ValueError(
                f"SASA: out_channels={out} must split into {heads} heads of an even number of "
                "channels (half for row offsets, half for column offsets)"
            )
        self.kernel_size, self.heads, self.scaled = kernel_size, heads, scaled
        self.q, self.k, self.v = (
            nn.Conv2d(channels, out, 1, groups=groups, bias=False) for _ in range(3)
        )
        half = out // heads // 2
        self.rel_rows = nn.Parameter(torch.randn(heads, kernel_size, half) * (2 * half) ** -0.5)
        self.rel_cols = nn.Parameter(torch.randn(heads, kernel_size, half) * (2 * half) ** -0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("SASA", x, self.channels)
        n, _, h, w = x.shape
        k, heads, d = self.kernel_size, self.heads, self.out_channels // self.heads
        q = self.q(x).reshape(n, heads, d, h * w)
        if self.scaled:
            q = q * d**-0.5

        def neighbourhoods(t: torch.Tensor) -> torch.Tensor:
            # (N, heads * d, H, W) -> (N, heads, d, k*k, HW); window index t = row * k + column.
            return F.unfold(t, k, padding=k // 2).reshape(n, heads, d, k * k, h * w)

        keys, values = neighbourhoods(self.k(x)), neighbourhoods(self.v(x))
        logits = torch.einsum("nhdp,nhdtp->nhpt", q, keys)
        rows = torch.einsum("nhdp,had->nhpa", q[:, :, : d // 2], self.rel_rows)
        cols = torch.einsum("nhdp,hbd->nhpb", q[:, :, d // 2 :], self.rel_cols)
        logits = logits + (rows[..., :, None] + cols[..., None, :]).flatten(-2)
        inside = F.unfold(x.new_ones(1, 1, h, w), k, padding=k // 2) > 0.5  # (1, k*k, HW)
        logits = logits.masked_fill(~inside.transpose(1, 2)[:, None], float("-inf"))
        y = torch.einsum("nhpt,nhdtp->nhdp", logits.softmax(-1), values)
        y = y.reshape(n, self.out_channels, h, w)
        return F.avg_pool2d(y, self.stride, ceil_mode=True) if self.stride > 1 else y
