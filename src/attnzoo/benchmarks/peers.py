"""Each attention module's function written the plain way, as timm writes its modules: the peer
every benchmark table compares attnzoo's implementation against.

A peer is built from an attnzoo module and takes over its layers (copies of them, so the same
weights): the forward is the paper's formula in stock PyTorch operators (``mean``, ``amax``, 1x1
convolutions, ``sigmoid``, a product), differentiated by plain autograd, with none of
:mod:`attnzoo.attention._ops`'s custom backward passes, sorted-prefix tricks or fused kernels that
attnzoo's modules use. Layers that already are stock PyTorch (BAM's and BA2M's convolution stacks,
BA2M's GSA, which runs ``scaled_dot_product_attention`` as timm's attention layers do) are reused
as they are. ``tests/benchmarks/test_peers.py`` checks in float64 that each peer computes its
module's function. :func:`with_peers` swaps every module of a network for its peer.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..attention import BA2M, BAM, CBAM, ECA, GC, SE, SPEM


class SEPeer(nn.Module):
    """timm's ``SEModule``: mean, fc1, ReLU, fc2, sigmoid, multiply."""

    def __init__(self, module: SE) -> None:
        super().__init__()
        self.fc1, self.fc2 = copy.deepcopy(module.fc1), copy.deepcopy(module.fc2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_se = self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(x_se)


class CBAMPeer(nn.Module):
    """timm's ``CbamModule``: channel gate from mean and max pooling, then spatial gate."""

    def __init__(self, module: CBAM) -> None:
        super().__init__()
        self.mlp = copy.deepcopy(module.mlp)
        self.spatial_conv = copy.deepcopy(module.spatial_conv)
        self.spatial_bn = copy.deepcopy(module.spatial_bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_avg = self.mlp(x.mean((2, 3), keepdim=True))
        x_max = self.mlp(x.amax((2, 3), keepdim=True))
        x = x * torch.sigmoid(x_avg + x_max)
        x_attn = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial_bn(self.spatial_conv(x_attn)))


class BAMPeer(nn.Module):
    """BAM: x + x * sigmoid(Mc + Ms) (``form="code"``: sigmoid(Mc * Ms))."""

    def __init__(self, module: BAM) -> None:
        super().__init__()
        self.form = module.form
        self.channel_att = copy.deepcopy(module.channel_att)
        self.spatial_att = copy.deepcopy(module.spatial_att)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mc = self.channel_att(x.mean((2, 3)))[:, :, None, None]
        ms = self.spatial_att(x)
        return x + x * torch.sigmoid(mc + ms if self.form == "paper" else mc * ms)


class SPEMPeer(nn.Module):
    """SPEM: max and min pooling, two gates, multiply; the same auxiliary loss."""

    def __init__(self, module: SPEM) -> None:
        super().__init__()
        self.alpha = module.alpha
        for name in ("w1", "b1", "w2", "b2", "p"):
            setattr(self, name, copy.deepcopy(getattr(module, name)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.w2 * x.amax((2, 3), keepdim=True) + self.b2
        l = self.w2 * x.amin((2, 3), keepdim=True) + self.b2  # noqa: E741 (the paper's name)
        lam = self.p[0] ** 2 / (self.p**2).sum()
        v_rew = torch.sigmoid(u + l)
        v_exc = torch.sigmoid(self.w1 * (lam * u + (1 - lam) * l) + self.b1)
        return x * v_rew * v_exc

    def aux_loss(self) -> torch.Tensor:
        return self.alpha * (self.p**2).sum()


class ECAPeer(nn.Module):
    """timm's ``EcaModule``: mean, 1-D convolution over channels, sigmoid, multiply."""

    def __init__(self, module: ECA) -> None:
        super().__init__()
        self.conv = copy.deepcopy(module.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x.mean((2, 3)).view(x.shape[0], 1, -1))
        return x * torch.sigmoid(y).view(x.shape[0], -1, 1, 1).expand_as(x)


class GCPeer(nn.Module):
    """timm's ``GlobalContext``: softmax attention pooling by a matrix product, then the
    transforms, added (and/or multiplied)."""

    def __init__(self, module: GC) -> None:
        super().__init__()
        self.conv_mask = copy.deepcopy(module.conv_mask)
        self.channel_add_conv = copy.deepcopy(module.channel_add_conv)
        self.channel_mul_conv = copy.deepcopy(module.channel_mul_conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        attn = self.conv_mask(x).reshape(n, 1, h * w).softmax(dim=-1).unsqueeze(-1)
        context = (x.reshape(n, 1, c, h * w) @ attn).view(n, c, 1, 1)
        out = x
        if self.channel_mul_conv is not None:
            out = out * torch.sigmoid(self.channel_mul_conv(context))
        if self.channel_add_conv is not None:
            out = out + self.channel_add_conv(context)
        return out


class BA2MPeer(nn.Module):
    """BA2M: the three branches' maps, the SAR as the mean over channels of the elementwise
    maximum (built at full size), softmax over the batch, multiply. ``sync="local"`` only."""

    def __init__(self, module: BA2M) -> None:
        super().__init__()
        if module.sync != "local":
            raise ValueError("BA2M's peer computes the local (one-process) softmax only")
        self.ca, self.lsa, self.gsa = (
            copy.deepcopy(b) for b in (module.ca, module.lsa, module.gsa)
        )
        self.sar, self.scale, self.tau, self.eval_mode = (
            module.sar, module.scale, module.tau, module.eval_mode,
        )  # fmt: skip

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


PEERS: dict[type[nn.Module], type[nn.Module]] = {
    SE: SEPeer, CBAM: CBAMPeer, BAM: BAMPeer, SPEM: SPEMPeer, ECA: ECAPeer, GC: GCPeer,
    BA2M: BA2MPeer,
}  # fmt: skip
PEER_NAMES = ("ba2m", "bam", "cbam", "eca", "gc", "se", "spem")


def peer(module: nn.Module) -> nn.Module:
    """The peer of an attnzoo attention module, with copies of its layers (same weights)."""
    try:
        cls = PEERS[type(module)]
    except KeyError:
        raise ValueError(f"no plain-PyTorch peer for {type(module).__name__}") from None
    return cls(module).train(module.training)


def with_peers(model: nn.Module) -> nn.Module:
    """Replace, in place, every attention module of ``model`` that has a peer by its peer."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in PEERS:
                setattr(parent, name, peer(child))
    return model


__all__ = ["PEERS", "PEER_NAMES", "peer", "with_peers"]
