"""Peers of the channel gates: x times a per-sample, per-channel gate computed from pooled
statistics (SE, ECA, SRM, SPEM, GE, GC) or, for IEBN, a BatchNorm whose scale is such a gate."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...attention import IEBN
from ...attention.gc import fuse_context
from .base import Peer


class SEPeer(Peer):
    """timm's ``SEModule``: mean, fc1, ReLU, fc2, sigmoid, multiply."""

    layers = ("fc1", "fc2")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_se = self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(x_se)


class ECAPeer(Peer):
    """timm's ``EcaModule``: mean, 1-D convolution over channels, sigmoid, multiply."""

    layers = ("conv",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x.mean((2, 3)).view(x.shape[0], 1, -1))
        return x * torch.sigmoid(y).view(x.shape[0], -1, 1, 1).expand_as(x)


class SRMPeer(Peer):
    """SRM as the authors' code writes it: mean and standard deviation (from the variance) over
    the positions, concatenated, weighted by ``cfc`` and summed, BatchNorm, sigmoid, multiply."""

    layers, settings = ("cfc", "bn"), ("unbiased", "eps")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        flat = x.reshape(n, c, h * w)
        correction = int(self.unbiased and h * w > 1)  # as the module: a 1 x 1 map has std 0
        std = (flat.var(-1, correction=correction, keepdim=True) + self.eps).sqrt()
        t = torch.cat([flat.mean(-1, keepdim=True), std], dim=2)  # (N, C, 2)
        z = (t * self.cfc[None]).sum(2)[:, :, None, None]
        return x * torch.sigmoid(self.bn(z))


class SPEMPeer(Peer):
    """SPEM: max and min pooling, two gates, multiply; the same auxiliary loss."""

    layers, settings = ("w1", "b1", "w2", "b2", "p"), ("alpha",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.w2 * x.amax((2, 3), keepdim=True) + self.b2
        l = self.w2 * x.amin((2, 3), keepdim=True) + self.b2  # noqa: E741 (the paper's name)
        lam = self.p[0] ** 2 / (self.p**2).sum()
        v_rew = torch.sigmoid(u + l)
        v_exc = torch.sigmoid(self.w1 * (lam * u + (1 - lam) * l) + self.b1)
        return x * v_rew * v_exc

    def aux_loss(self) -> torch.Tensor:
        return self.alpha * (self.p**2).sum()


class GEPeer(Peer):
    """timm's ``GatherExcite``: gather (mean, average pooling or the module's depth-wise
    convolutions), the optional MLP, nearest upsampling, sigmoid, multiply. attnzoo's GE is
    written this way already, so its peer row is a control of the measurement's noise."""

    layers, settings = ("gather", "mlp"), ("extent", "kernel")

    def _gather(self, x: torch.Tensor) -> torch.Tensor:
        if self.gather is not None:
            # The module's global kernel fits one map size; others are pooled to it first.
            fits = self.extent > 0 or tuple(x.shape[-2:]) == (self.kernel, self.kernel)
            return self.gather(x if fits else F.adaptive_avg_pool2d(x, self.kernel))
        if not self.extent:
            return x.mean(dim=(2, 3), keepdim=True)
        kernel = 2 * self.extent - 1
        return F.avg_pool2d(x, kernel, self.extent, kernel // 2, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_ge = self._gather(x)
        if self.mlp is not None:
            x_ge = self.mlp(x_ge)
        if x_ge.shape[-1] != 1 or x_ge.shape[-2] != 1:
            x_ge = F.interpolate(x_ge, size=x.shape[-2:])
        return x * torch.sigmoid(x_ge)


class GCPeer(Peer):
    """timm's ``GlobalContext``: softmax attention pooling by a matrix product (attnzoo's GC
    pools with ``scaled_dot_product_attention``), then the same fusions."""

    layers = ("conv_mask", "channel_add_conv", "channel_mul_conv")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        attn = self.conv_mask(x).reshape(n, 1, h * w).softmax(dim=-1).unsqueeze(-1)
        context = (x.reshape(n, 1, c, h * w) @ attn).view(n, c, 1, 1)
        return fuse_context(x, context, self.channel_mul_conv, self.channel_add_conv)


class IEBNPeer(Peer):
    """IEBN as the authors' code writes it: a BatchNorm without affine parameters (holding the
    module's running statistics), times gamma * sigmoid(w * mean(x) + b), plus beta."""

    layers = ("weight", "bias", "gate_weight", "gate_bias")

    def __init__(self, module: IEBN) -> None:
        super().__init__(module)
        self.bn = nn.BatchNorm2d(
            module.channels,
            module.eps,
            module.momentum,
            affine=False,
            track_running_stats=module.track_running_stats,
        ).to(module.weight.device, module.weight.dtype)
        if module.track_running_stats:
            self.bn.load_state_dict(module.state_dict(), strict=False)  # the statistics only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def per_channel(p: torch.Tensor) -> torch.Tensor:
            return p[None, :, None, None]

        local = x.mean((2, 3), keepdim=True)
        gate = torch.sigmoid(local * per_channel(self.gate_weight) + per_channel(self.gate_bias))
        return self.bn(x) * (per_channel(self.weight) * gate) + per_channel(self.bias)
