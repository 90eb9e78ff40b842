"""AA: attention-augmented convolution (Bello, Zoph, Vaswani, Shlens, Le, "Attention Augmented
Convolutional Networks", ICCV 2019; TensorFlow code in the paper's appendix).

    AA(x) = concat[conv3x3(x) with out - dv channels, MHA(x) with dv channels]

MHA: one 1x1 convolution gives q, k (dk channels each) and v (dv), split into ``heads`` heads of
dkh = dk / heads and dvh = dv / heads channels. Per head, over all H*W positions (Eq. 1, 3-4),

    O = softmax(q k^T / sqrt(dkh) + S_H + S_W) v,  S_W[i, j] = q_i . r^W_{x_j - x_i} / sqrt(dkh)

(S_H likewise with rows), one learned dkh-vector per relative offset and per axis, shared by the
heads as in the appendix code; the heads are concatenated and mixed by a 1x1 convolution dv -> dv
(W^O). The logits are built explicitly, as in the appendix code (and timm's ``BottleneckAttn``):
the relative logits, an (HW x HW) tensor per head, exist anyway, so a fused attention kernel would
save no memory, and on a CPU core ``scaled_dot_product_attention``'s kernel is slower at AA's few
value channels per head (1-6 in a CIFAR ResNet-50; docs/benchmarks.md, "Modules against their
plain-PyTorch peers", measures the network). ``baddbmm`` adds q k^T into them.

Defaults are the setting that reproduces the paper's AA-ResNet-50/101/152 parameter counts:
kappa = dk / out = 0.2, upsilon = dv / out = 0.1 (the paper's "kappa = 2 upsilon = 0.2"), 8 heads
and at least 20 key dimensions per head. The paper augments only the last three ResNet stages
(28x28, 14x14, 7x7 maps at 224; its ResNet-50/101/152 counts, 25.8M/45.4M/61.6M, need exactly
that): AA's default stages are all but the first (``stages="all"`` augments every layer).
``min_width`` keeps the plain convolution in layers narrower than it (0: none), another way to
leave out ResNet-50's first stage that earlier versions used (``min_width=128``).

Where we differ from, or add to, the paper, and why:

* Relative embeddings: the paper sizes them 2W - 1 and 2H - 1 for the one map a layer sees.
  Here a layer has 2 * max_size - 1 entries per axis and uses the central 2W - 1 (2H - 1), so it
  takes any map up to max_size x max_size, with the logits of a layer sized for that map. In a
  backbone, max_size is each layer's map side at the input size the model is built for (the
  ``feature_size_option`` hook; a ResNet's ``input_size``, 224 by default: 56, 28, 14 and 7, the
  paper's tables); built alone, it defaults to 56, ResNet's largest map at 224. A larger map is
  refused with an error that names the fix (``input_size``, or ``max_size``): the tables have no
  entry for its longer offsets, and clipping or interpolating them would be neither the paper's
  model nor the one trained.
* Stride: the appendix code has none. With ``stride`` > 1 the convolution is strided and the
  attention runs on the 2x2 average-pooled input (ceil mode, so its size is the convolution's),
  as at the 28/14/7 sizes the paper names; some ports (titu1994's Keras) subsample with a strided
  1x1 qkv convolution instead.
* No biases: Eq. 1-2 are plain linear maps; the appendix code's ``tf.layers.conv2d`` defaults add
  biases, which the BatchNorm after the layer makes redundant for the convolution and W^O.
* dv is rounded down to a multiple of ``heads`` (and of ``groups``, so that a ResNeXt's grouped
  convolution branch divides), at least one such multiple; ``dv=0``, or a layer narrower than
  ``min_width``, keeps the plain convolution only. ``dv=1`` is the paper's fully attentional layer.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import AttnzooError
from ._checks import check_feature_map, check_positive
from .base import ConvAttentionModule
from .registry import register_attention


def _units(fraction: float, channels: int, unit: int) -> int:
    """floor(fraction * channels / unit), robust to float noise such as 0.29 * 100 = 28.999..."""
    return math.floor(round(fraction * channels / unit, 9))


@register_attention("aa")
class AA(ConvAttentionModule):
    """conv3x3 and multi-head attention with relative logits, concatenated (module docstring)."""

    default_stages = "all_but_first"  # the paper's AA-ResNets: the last three stages
    feature_size_option = "max_size"  # the relative tables are sized for the layer's map

    option_help: ClassVar[dict[str, str]] = {
        "out_channels": "C', the output width (None: C)",
        "stride": "the replaced convolution's stride",
        "groups": "the convolution's groups (the replaced convolution's)",
        "dk": "kappa, key width as a fraction of C'",
        "dv": "upsilon, value (attention output) width as a fraction of C'",
        "heads": "the number of attention heads",
        "min_key_dims": "the smallest key width per head",
        "max_size": "the largest map side the relative embeddings cover",
        "min_width": "layers with fewer output channels keep only the convolution",
        "relative": "add the relative position logits S_H + S_W",
    }

    def __init__(
        self,
        channels: int,
        out_channels: int | None = None,
        stride: int = 1,
        groups: int = 1,
        dk: float = 0.2,
        dv: float = 0.1,
        heads: int = 8,
        min_key_dims: int = 20,
        max_size: int = 56,
        min_width: int = 0,
        relative: bool = True,
    ) -> None:
        super().__init__(channels, out_channels, stride, groups)
        out = self.out_channels
        for option, value in (("heads", heads), ("max_size", max_size)):
            check_positive("AA", option, value)
        if not (0 <= dv <= 1 and dk >= 0 and min_key_dims >= 0):
            raise AttnzooError(f"AA: need 0 <= dv <= 1, dk >= 0, min_key_dims >= 0; got {dv}, {dk}")
        self.heads, self.max_size, self.relative = heads, max_size, relative
        unit = math.lcm(heads, groups)
        self.dv = 0 if dv == 0 or out < min_width else max(_units(dv, out, unit), 1) * unit
        self.dk = heads * max(_units(dk, out, heads), min_key_dims) if self.dv else 0
        if self.dv > out or (self.dv and self.dk == 0):
            raise AttnzooError(
                f"AA: dv={self.dv} (a multiple of lcm(heads, groups)={unit}) must not exceed "
                f"out_channels={out}, and dk must be positive; got dk={self.dk}"
            )
        conv_out = out - self.dv
        self.conv = None
        if conv_out:
            self.conv = nn.Conv2d(channels, conv_out, 3, stride, 1, groups=groups, bias=False)
            # He (fan-out) initialisation, as the ResNet convolution this layer replaces.
            nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        self.qkv = self.proj = self.rel_h = self.rel_w = None
        if self.dv:
            self.qkv = nn.Conv2d(channels, 2 * self.dk + self.dv, 1, bias=False)
            self.proj = nn.Conv2d(self.dv, self.dv, 1, bias=False)
            if relative:
                dkh = self.dk // heads  # the appendix code draws them with std dkh^-0.5
                self.rel_h = nn.Parameter(torch.randn(2 * max_size - 1, dkh) * dkh**-0.5)
                self.rel_w = nn.Parameter(torch.randn(2 * max_size - 1, dkh) * dkh**-0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("AA", x, self.channels)
        parts = [] if self.conv is None else [self.conv(x)]
        if self.dv:
            if self.stride > 1:
                x = F.avg_pool2d(x, self.stride, ceil_mode=True)
            parts.append(self.attention(x))
        return torch.cat(parts, 1) if len(parts) > 1 else parts[0]

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """MHA(x) after W^O: (N, Cin, H, W) -> (N, dv, H, W)."""
        n, _, h, w = x.shape
        if self.relative and max(h, w) > self.max_size:
            raise AttnzooError(
                f"AA: relative embeddings were built for maps up to max_size={self.max_size}; "
                f"got {h}x{w}. Build the layer with a larger max_size (in a backbone: "
                f"create_model(..., model_options={{'input_size': N}}) for inputs up to N x N)."
            )
        q, k, v = self.qkv(x).split([self.dk, self.dk, self.dv], 1)
        # (N, heads * d, H, W) -> (N * heads, d, HW): one batch entry per head, tokens last.
        q, k, v = (t.reshape(n * self.heads, -1, h * w) for t in (q, k, v))
        q = q.transpose(-1, -2) * (self.dk // self.heads) ** -0.5  # (N * heads, HW, dkh)
        if self.relative:  # baddbmm adds q k^T into the relative logits
            logits = torch.baddbmm(self.relative_logits(q, h, w), q, k)
        else:
            logits = torch.bmm(q, k)
        o = torch.bmm(logits.softmax(-1), v.transpose(-1, -2))  # (N * heads, HW, dvh)
        return self.proj(o.transpose(-1, -2).reshape(n, self.dv, h, w))

    def relative_logits(self, q: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """S_H + S_W, (B, HW, HW), from scaled queries (B, HW, d), B = N * heads."""
        q = q.reshape(q.shape[0], h, w, -1)
        # Einsums (batched matrix products, which the FLOP counter sees) against r_{j - i}.
        lw = torch.einsum("bxyd,yzd->bxyz", q, self._by_position(self.rel_w, w))
        lh = torch.einsum("bxyd,xzd->bxyz", q, self._by_position(self.rel_h, h))
        return (lh[..., :, None] + lw[..., None, :]).reshape(q.shape[0], h * w, h * w)

    def _by_position(self, table: torch.Tensor, size: int) -> torch.Tensor:
        """(size, size, d): entry [i, j] is the embedding of the offset j - i."""
        pos = torch.arange(size, device=table.device)
        return table[pos[None, :] - pos[:, None] + self.max_size - 1]
