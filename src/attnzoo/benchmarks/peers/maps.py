"""Peers of the modules that gate by a map over positions (CBAM, BAM, SGE) or over the batch
(BA2M)."""

from __future__ import annotations

import torch

from ...attention import BA2M
from ...validation import AttnzooError
from .base import Peer


class CBAMPeer(Peer):
    """timm's ``CbamModule``: channel gate from mean and max pooling, then spatial gate."""

    layers = ("mlp", "spatial_conv", "spatial_bn")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_avg = self.mlp(x.mean((2, 3), keepdim=True))
        x_max = self.mlp(x.amax((2, 3), keepdim=True))
        x = x * torch.sigmoid(x_avg + x_max)
        x_attn = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial_bn(self.spatial_conv(x_attn)))


class BAMPeer(Peer):
    """BAM: x + x * sigmoid(Mc + Ms) (``form="code"``: sigmoid(Mc * Ms))."""

    layers, settings = ("channel_att", "spatial_att"), ("form",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mc = self.channel_att(x.mean((2, 3)))[:, :, None, None]
        ms = self.spatial_att(x)
        return x + x * torch.sigmoid(mc + ms if self.form == "paper" else mc * ms)


class SGEPeer(Peer):
    """SGE as the authors' code writes it: groups folded into the batch, similarity to the
    group's mean, normalised over the positions, scaled and shifted per group, sigmoid, multiply."""

    layers, settings = ("weight", "bias"), ("groups", "eps")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.reshape(n * self.groups, c // self.groups, h, w)
        t = (x * x.mean((2, 3), keepdim=True)).sum(1).reshape(n * self.groups, h * w)
        t = t - t.mean(1, keepdim=True)
        # The module's estimator: unbiased, and 0 (not NaN) for a single position.
        t = t / (t.std(1, correction=int(h * w > 1), keepdim=True) + self.eps)
        t = t.view(n, self.groups, h, w) * self.weight + self.bias
        x = x * torch.sigmoid(t.view(n * self.groups, 1, h, w))
        return x.reshape(n, c, h, w)


class BA2MPeer(Peer):
    """BA2M: the three branches' maps, the SAR as the mean over channels of the elementwise
    maximum (built at full size), softmax over the batch, multiply. ``sync="local"`` only. Its
    branches are stock layers already and are reused as they are (the GSA:
    ``scaled_dot_product_attention`` and then the projection, as timm's attention layers do)."""

    layers, settings = ("ca", "lsa", "gsa"), ("sar", "scale", "tau", "eval_mode")

    def __init__(self, module: BA2M) -> None:
        if module.sync != "local":
            raise AttnzooError("BA2M's peer computes the local (one-process) softmax only")
        super().__init__(module)

    def identity_at_inference(self) -> bool:
        return self.eval_mode == "identity"

    def _channel(self, x: torch.Tensor) -> torch.Tensor:
        ca = self.ca
        return torch.sigmoid(ca.bn(ca.fc1(torch.relu(ca.fc0(x.mean((2, 3)))))))[:, :, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (not self.training and self.eval_mode == "identity") or x.shape[0] == 1:
            return x
        maps = [torch.sigmoid(b(x)) for b in (self.lsa, self.gsa) if b is not None]
        s = torch.stack(maps).amax(0) if maps else None
        if self.ca is not None:
            ca = self._channel(x)
            s = (
                ca.mean(1, keepdim=True)
                if s is None
                else torch.maximum(ca, s).mean(1, keepdim=True)
            )
        if self.sar == "sample":
            s = s.mean((2, 3), keepdim=True)
        w = torch.softmax(s.to(torch.promote_types(s.dtype, torch.float32)) / self.tau, dim=0)
        if self.scale == "N":
            w = w * x.shape[0]
        return x * w.to(x.dtype)
