"""DenseNet-BC for CIFAR (Huang, Liu, van der Maaten, Weinberger, "Densely connected convolutional
networks", CVPR 2017).

``densenet100_bc``: growth rate k = 12, three dense blocks of 16 bottleneck layers
(BN-ReLU-conv1x1 to 4k, BN-ReLU-conv3x3 to k), transitions that halve the channels
(BN-ReLU-conv1x1, 2x2 average pooling), a 2k-wide 3x3 stem and a final BN-ReLU before pooling,
as the authors' CIFAR code. Their CIFAR network is already built for 32x32 inputs (stride-1 stem,
no pooling before the first block); maps are 32, 16 and 8 pixels wide.

Stages: stage 1 is the first dense block; stages 2 and 3 are a transition then a dense block, so
each stage is the layers at one resolution and ``features`` gives maps of 216, 300 and 342
channels.

Attention inside a block goes on each dense layer's k new maps, after its 3x3 convolution and
before they are concatenated to the layer's input.

Parameters (100 classes): 0.800M, 0.769M with a 10-class head (the DenseNet paper's "0.8M"). The
BA2M paper's Table X gives 0.76M; no stem width or head reproduces it (a 16-wide stem gives
0.786M), so we keep the authors' network. Multiply-adds at 32x32: 0.29G, as published.
Convolutions are initialised N(0, 2 / (k * k * out_channels)), as the authors' code.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import StagedNet
from .placement import AttentionPlan, LayerFactory
from .registry import register_model
from .resnet import bn_relu, conv


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (4k)-BN-ReLU-conv3x3 (k) [attention], concatenated after the input."""

    def __init__(self, inplanes: int, growth_rate: int, attn_layer: LayerFactory) -> None:
        super().__init__()
        width = 4 * growth_rate
        self.branch = nn.Sequential(
            *bn_relu(inplanes),
            conv(inplanes, width, 1),
            *bn_relu(width),
            conv(width, growth_rate, 3),
        )
        self.attn = attn_layer(growth_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.attn(self.branch(x))], 1)


def transition(inplanes: int, outplanes: int) -> nn.Sequential:
    """BN-ReLU-conv1x1, then 2x2 average pooling: halves the resolution between dense blocks."""
    return nn.Sequential(*bn_relu(inplanes), conv(inplanes, outplanes, 1), nn.AvgPool2d(2))


class DenseNet(StagedNet):
    """A DenseNet-BC of ``len(layers)`` dense blocks of ``layers[i]`` bottleneck layers."""

    def __init__(
        self,
        layers: Sequence[int],
        growth_rate: int = 12,
        compression: float = 0.5,
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        attention: AttentionPlan | None = None,
        name: str = "densenet",
    ) -> None:
        attention = attention or AttentionPlan()
        channels = 2 * growth_rate
        stages, stage_channels = [], []
        for index, depth in enumerate(layers):
            block_attn = attention.block_layer(index + 1)
            stage: list[nn.Module] = []
            if index > 0:
                reduced = int(channels * compression)
                stage.append(transition(channels, reduced))
                channels = reduced
            for _ in range(depth):
                stage.append(DenseLayer(channels, growth_rate, block_attn))
                channels += growth_rate
            stages.append(nn.Sequential(*stage))
            stage_channels.append(channels)
        super().__init__(
            name,
            in_chans,
            num_classes,
            conv(in_chans, 2 * growth_rate, 3),
            stages,
            stage_channels,
            attention,
            reductions=[2**i for i in range(len(layers))],  # a transition pools before each
            head=bn_relu(channels),
        )


@register_model("densenet100_bc", 10)
def densenet100_bc(
    *, num_classes: int, in_chans: int, attention: AttentionPlan, name: str
) -> DenseNet:
    """Depth 100: 3 blocks x 16 layers x 2 convolutions, the stem, 2 transitions, the classifier."""
    return DenseNet(
        (16, 16, 16),
        12,
        0.5,
        num_classes=num_classes,
        in_chans=in_chans,
        attention=attention,
        name=name,
    )
