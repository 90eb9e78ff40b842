"""Peers of the modules that replace a block's 3x3 convolution (SK, AA, SASA): each takes its
module's place, so a model built with peers is the same network with the same convolutions
replaced."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...attention import SK
from .base import Peer


class SKAttnPeer(Peer):
    """timm's ``SelectiveKernelAttn``: sum of the paths, mean, reduce, BN, ReLU, select, softmax
    over the paths."""

    layers, settings = ("bn",), ("num_paths",)
    renamed = (("fc_reduce", "fc1"), ("fc_select", "fc2"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.fc_reduce(x.sum(1).mean((2, 3), keepdim=True))))
        x = self.fc_select(x)
        n, c, h, w = x.shape
        return torch.softmax(x.view(n, self.num_paths, c // self.num_paths, h, w), dim=1)


class SKPeer(Peer):
    """timm's ``SelectiveKernel`` (without its input split): the module's conv-BN-ReLU paths,
    stacked, weighted by :class:`SKAttnPeer`, summed. attnzoo's SK is written this way already, so
    its peer row is a control of the measurement's noise."""

    layers = ("paths",)

    def __init__(self, module: SK) -> None:
        super().__init__(module)
        self.attn = SKAttnPeer(module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.stack([op(x) for op in self.paths], dim=1)
        return torch.sum(x * self.attn(x), dim=1)


def relative_to_absolute(x: torch.Tensor) -> torch.Tensor:
    """(..., L, 2L - 1) logits indexed by query and offset + L - 1 -> (..., L, L) indexed by
    query and key, by padding and re-reading the flattened rows (the skewing of the AA paper's
    appendix, as timm's ``rel_logits_1d`` does it)."""
    length, rel = x.shape[-2:]
    x = F.pad(F.pad(x, [0, 1]).flatten(-2), [0, length - 1])  # (..., (L + 1) * (2L - 1))
    return x.unflatten(-1, (length + 1, rel))[..., :length, length - 1 :]


class AAPeer(Peer):
    """AA written as timm's ``BottleneckAttn`` with ``scale_pos_embed=True``: q @ k plus the
    relative logits from the skewing trick (attnzoo's AA gathers the embeddings by offset and runs
    ``scaled_dot_product_attention``), scaled, softmax, @ v; then W^O and the concatenation with
    the convolution's channels."""

    layers = ("conv", "qkv", "proj", "rel_h", "rel_w")
    settings = ("dk", "dv", "heads", "stride", "max_size")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = [] if self.conv is None else [self.conv(x)]
        if not self.dv:
            return conv[0]
        pooled = x if self.stride == 1 else F.avg_pool2d(x, self.stride, ceil_mode=True)
        return torch.cat([*conv, self.proj(self._attend(pooled))], dim=1)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        dkh, dvh = self.dk // self.heads, self.dv // self.heads
        q, k, v = torch.split(self.qkv(x), [self.dk, self.dk, self.dv], dim=1)
        q = q.reshape(b * self.heads, dkh, -1).transpose(-1, -2)
        k = k.reshape(b * self.heads, dkh, -1)  # no transpose, for q @ k
        v = v.reshape(b * self.heads, dvh, -1).transpose(-1, -2)
        attn = q @ k
        if self.rel_h is not None:
            attn = attn + self._relative_logits(q, h, w)
        attn = (attn * dkh**-0.5).softmax(dim=-1)
        return (attn @ v).transpose(-1, -2).reshape(b, self.dv, h, w)

    def _relative_logits(self, q: torch.Tensor, h: int, w: int) -> torch.Tensor:
        q = q.reshape(-1, h, w, q.shape[-1])
        # The central 2L - 1 rows of a table of 2 * max_size - 1 offsets.
        rel_w = self.rel_w[self.max_size - w : self.max_size + w - 1]
        rel_h = self.rel_h[self.max_size - h : self.max_size + h - 1]
        by_col = relative_to_absolute(q @ rel_w.t())  # (B, row, col, key col)
        by_row = relative_to_absolute(q.transpose(1, 2) @ rel_h.t()).transpose(1, 2)
        return (by_row[..., :, None] + by_col[..., None, :]).reshape(-1, h * w, h * w)


class SASAPeer(Peer):
    """SASA written as timm's ``HaloAttn`` with blocks of one pixel and a halo of k // 2: keys
    and values in k x k windows from ``Tensor.unfold`` of the zero-padded maps (attnzoo's SASA
    uses ``F.unfold`` and einsums), q @ k plus the row and column logits, the windows' positions
    outside the image masked (the module's borders, unlike timm's), softmax, @ v."""

    layers = ("q", "k", "v", "rel_rows", "rel_cols")
    settings = ("kernel_size", "heads", "scaled", "out_channels", "stride")

    def _windows(self, t: torch.Tensor) -> torch.Tensor:
        """(..., H, W) -> (..., H, W, k * k): each position's zero-padded k x k neighbourhood."""
        k = self.kernel_size
        t = F.pad(t, [k // 2] * 4).unfold(-2, k, 1).unfold(-2, k, 1)
        return t.flatten(-2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        heads, d = self.heads, self.out_channels // self.heads
        q = self.q(x).reshape(n, heads, d, h * w).transpose(-1, -2)  # (N, heads, HW, d)
        if self.scaled:
            q = q * d**-0.5
        k, v = (
            self._windows(t(x)).reshape(n, heads, d, h * w, -1).permute(0, 1, 3, 2, 4)
            for t in (self.k, self.v)
        )  # (N, heads, HW, d, k * k)
        attn = (q.unsqueeze(-2) @ k).squeeze(-2)  # (N, heads, HW, k * k)
        rows = q[..., : d // 2] @ self.rel_rows.transpose(-1, -2)[None]  # (N, heads, HW, k)
        cols = q[..., d // 2 :] @ self.rel_cols.transpose(-1, -2)[None]
        attn = attn + (rows[..., :, None] + cols[..., None, :]).flatten(-2)
        inside = self._windows(x.new_ones(h, w)).reshape(h * w, -1) > 0.5
        attn = attn.masked_fill(~inside, float("-inf")).softmax(dim=-1)
        out = (v @ attn.unsqueeze(-1)).squeeze(-1)  # (N, heads, HW, d)
        out = out.transpose(-1, -2).reshape(n, self.out_channels, h, w)
        return F.avg_pool2d(out, self.stride, ceil_mode=True) if self.stride > 1 else out
