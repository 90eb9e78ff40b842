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
* Neighbourhoods come from ``F.unfold``. The two products with them (q . k over a window, and
  the weighted sum of its values) are element-wise products summed over the head's channels, not
  batched matrix products: one 1 x d by d x k^2 product per pixel is too small for a matmul
  kernel, and the permuted copies it needs cost more than the products (fwd + bwd 1.8x faster
  on CPU at 64 channels, 32 x 32). ``torch.utils.flop_counter`` does not see element-wise
  products, so :meth:`SASA.uncounted_macs` declares their k^2 * (dk + dv) multiply-adds per pixel
  for the complexity counter; the relative logits (k * dk) stay einsums, counted as they run.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import AttnzooError
from ._checks import check_feature_map, check_positive
from .base import ConvAttentionModule
from .registry import register_attention


@register_attention("sasa")
class SASA(ConvAttentionModule):
    """k x k local self-attention in place of a convolution (see the module docstring)."""

    option_help: ClassVar[dict[str, str]] = {
        "out_channels": "C', the output width (None: C; must split into heads of an even width)",
        "stride": "the replaced convolution's stride, applied by pooling after the attention",
        "groups": "groups of the q, k, v projections (the replaced convolution's)",
        "kernel_size": "K, the neighbourhood side (odd)",
        "heads": "the number of attention heads",
        "scaled": "divide the logits by sqrt(d)",
    }

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
            raise AttnzooError(f"SASA: kernel_size must be a positive odd int, got {kernel_size!r}")
        if out % (2 * heads):
            raise AttnzooError(
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
        logits = (q[:, :, :, None] * keys).sum(2)  # (N, heads, k*k, HW)
        rows = torch.einsum("nhdp,had->nhap", q[:, :, : d // 2], self.rel_rows)
        cols = torch.einsum("nhdp,hbd->nhbp", q[:, :, d // 2 :], self.rel_cols)
        logits = logits + (rows[:, :, :, None] + cols[:, :, None, :]).flatten(2, 3)
        inside = F.unfold(x.new_ones(1, 1, h, w), k, padding=k // 2) > 0.5  # (1, k*k, HW)
        logits = logits.masked_fill(~inside[:, None], float("-inf"))
        y = (logits.softmax(2)[:, :, None] * values).sum(3)  # (N, heads, d, HW)
        y = y.reshape(n, self.out_channels, h, w)
        return F.avg_pool2d(y, self.stride, ceil_mode=True) if self.stride > 1 else y

    def uncounted_macs(self, x: torch.Tensor) -> int:
        """The window products' multiply-adds on ``x``: k^2 * (dk + dv) per pixel."""
        n, _, h, w = x.shape
        return 2 * n * h * w * self.kernel_size**2 * self.out_channels
