"""Independent float64 references for the attention tests, written from docs' formulas."""

from __future__ import annotations

import torch
from torch import nn


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random values for every parameter and BatchNorm buffer, so no term is trivially 0 or 1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return module.double()


def bn(x: torch.Tensor, m: nn.modules.batchnorm._BatchNorm, training: bool) -> torch.Tensor:
    """BatchNorm over every dimension but 1: batch statistics (biased variance) or running ones."""
    dims = [d for d in range(x.dim()) if d != 1]
    shape = [1, -1] + [1] * (x.dim() - 2)
    if training:
        mean, var = x.mean(dims), x.var(dims, unbiased=False)
    else:
        mean, var = m.running_mean, m.running_var
    return (x - mean.view(shape)) / torch.sqrt(var.view(shape) + m.eps) * m.weight.view(
        shape
    ) + m.bias.view(shape)


def conv(x: torch.Tensor, layer: nn.Conv2d) -> torch.Tensor:
    return nn.functional.conv2d(
        x, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups
    )


def linear(x: torch.Tensor, layer: nn.Linear | nn.Conv2d) -> torch.Tensor:
    """A fully connected layer on (N, C) vectors, from a Linear or a 1x1 convolution's weights."""
    w = layer.weight.reshape(layer.weight.shape[0], -1)
    return x @ w.T + (layer.bias if layer.bias is not None else 0)


def assert_close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)
