"""Shared pieces of the float64 references for the attention tests.

The references in the test files are written from the formulas in docs/modules.md. They take
weights out of a module (so that both compute with the same numbers) but never call the module's
layers: every linear map is an explicit matmul / einsum / ``F.conv2d`` with the padding and
dilation the formula names, and BatchNorm is recomputed here from its definition.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_BN = nn.modules.batchnorm._BatchNorm


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    """A reproducible float64 standard-normal tensor."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Replace every parameter and BatchNorm buffer by random values, then cast to float64.

    Weights are scaled by 1/sqrt(fan_in) so activations stay near unit scale (no saturated sigmoid
    or one-hot softmax hides a term); BatchNorm gets affine parameters of both signs away from 0
    and running statistics that are neither 0 nor 1, so BN is never an identity.
    """
    g = torch.Generator().manual_seed(seed)

    def rnd(shape: torch.Size) -> torch.Tensor:
        return torch.randn(shape, generator=g)

    with torch.no_grad():
        for layer in module.modules():
            own = dict(layer.named_parameters(recurse=False))
            if isinstance(layer, _BN):
                sign = torch.where(rnd(layer.weight.shape) < 0, -1.0, 1.0)
                layer.weight.copy_(sign * (0.5 + torch.rand(layer.weight.shape, generator=g)))
                layer.bias.copy_(0.5 * rnd(layer.bias.shape))
                layer.running_mean.copy_(0.3 * rnd(layer.running_mean.shape))
                layer.running_var.copy_(0.5 + torch.rand(layer.running_var.shape, generator=g))
            elif isinstance(layer, nn.Linear | nn.Conv2d):
                fan_in = layer.weight[0].numel()
                layer.weight.copy_(rnd(layer.weight.shape) / fan_in**0.5)
                if layer.bias is not None:
                    layer.bias.copy_(0.3 * rnd(layer.bias.shape))
            else:  # parameters owned directly (SPEM's w, b, p)
                for p in own.values():
                    p.copy_(0.7 * rnd(p.shape))
    return module.double()


def bn(x: torch.Tensor, layer: nn.Module, training: bool) -> torch.Tensor:
    """BatchNorm from its definition: normalise every channel (dim 1) over all other dimensions,
    with the batch mean and the biased batch variance in training, the running ones otherwise."""
    dims = [d for d in range(x.dim()) if d != 1]
    shape = [1, -1] + [1] * (x.dim() - 2)
    if training:
        mean = x.mean(dims)
        var = ((x - mean.view(shape)) ** 2).mean(dims)  # biased
    else:
        mean, var = layer.running_mean, layer.running_var
    x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + layer.eps)
    return x_hat * layer.weight.view(shape) + layer.bias.view(shape)


def fc(z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A fully connected layer on (N, Cin) vectors; the weight may be a 1x1 conv's."""
    out = z @ weight.reshape(weight.shape[0], -1).T
    return out if bias is None else out + bias


def conv1x1(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A 1x1 convolution as an einsum over channels."""
    out = torch.einsum("oc,nchw->nohw", weight.reshape(weight.shape[0], -1), x)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    *,
    padding: int,
    dilation: int = 1,
    groups: int = 1,
) -> torch.Tensor:
    """A k x k convolution with the padding / dilation / groups given by the spec, not the layer."""
    return F.conv2d(x, weight, bias, stride=1, padding=padding, dilation=dilation, groups=groups)


def avg_pool_ceil(x: torch.Tensor, s: int) -> torch.Tensor:
    """Mean over each s x s window, windows clipped at the border (ceil mode), by explicit loops."""
    h, w = -(-x.shape[2] // s), -(-x.shape[3] // s)
    out = x.new_zeros(*x.shape[:2], h, w)
    for i in range(h):
        for j in range(w):
            out[:, :, i, j] = x[:, :, i * s : i * s + s, j * s : j * s + s].mean((2, 3))
    return out


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-6, atol=1e-8)
