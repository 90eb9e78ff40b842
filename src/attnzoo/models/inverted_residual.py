"""Networks of inverted residual blocks: MobileNetV2's block and EfficientNet's MBConv are one
block with a different activation, kernel sizes and a squeeze-and-excitation; one network class
builds both (see ``mobilenetv2.py`` and ``efficientnet.py`` for the registered models).

Attention inside a block goes after the projection's BatchNorm, before the residual addition
(where the block has one). Convolutions: He (fan-out) initialisation, zero biases, as torchvision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .base import StagedNet
from .placement import AttentionPlan, LayerFactory
from .resnet import conv

# A stage: groups of (expansion t, width, blocks, kernel size, stride of the first block).
Settings = Sequence[Sequence[tuple[int, int, int, int, int]]]


def conv_bn_act(
    cin: int,
    cout: int,
    kernel_size: int,
    activation: type[nn.Module],
    stride: int = 1,
    groups: int = 1,
) -> list[nn.Module]:
    return [conv(cin, cout, kernel_size, stride, groups), nn.BatchNorm2d(cout), activation(True)]


class SqueezeExcite(nn.Module):
    """EfficientNet's own SE: GAP, 1x1 to ``hidden``, SiLU, 1x1 back, sigmoid gate."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.expand = nn.Conv2d(hidden, channels, 1)
        for layer in (self.reduce, self.expand):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.expand(nn.functional.silu(self.reduce(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(s)


class InvertedResidual(nn.Module):
    """[1x1 expansion-BN-act] kxk depthwise-BN-act [SE], 1x1 projection-BN [attention] + input.

    ``se_ratio`` > 0 adds EfficientNet's SE on ``se_ratio`` x the block's input width.
    """

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int,
        expansion: int,
        attn_layer: LayerFactory,
        kernel_size: int = 3,
        activation: type[nn.Module] = nn.ReLU6,
        se_ratio: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = inplanes * expansion
        expand = conv_bn_act(inplanes, hidden, 1, activation) if expansion != 1 else []
        se = [SqueezeExcite(hidden, max(1, int(inplanes * se_ratio)))] if se_ratio else []
        self.branch = nn.Sequential(
            *expand,
            *conv_bn_act(hidden, hidden, kernel_size, activation, stride, groups=hidden),
            *se,
            conv(hidden, planes, 1),
            nn.BatchNorm2d(planes),
        )
        self.attn = attn_layer(planes)
        self.residual = stride == 1 and inplanes == planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.attn(self.branch(x))
        return x + out if self.residual else out


class InvertedResidualNet(StagedNet):
    """32-wide 3x3 stride-1 stem, the stages of ``settings``, 1x1 conv to 1280 (the ``head``),
    dropout ``drop_rate`` and the classifier."""

    def __init__(
        self,
        settings: Settings,
        *,
        activation: type[nn.Module],
        se_ratio: float = 0.0,
        num_classes: int = 10,
        in_chans: int = 3,
        attention: AttentionPlan | None = None,
        name: str = "inverted_residual",
        drop_rate: float = 0.0,
    ) -> None:
        attention = attention or AttentionPlan()
        inplanes, stages, stage_channels, reductions = 32, [], [], []
        for number, groups in enumerate(settings, start=1):
            block_attn = attention.block_layer(number)
            blocks = []
            for expansion, planes, depth, kernel_size, stride in groups:
                for i in range(depth):
                    blocks.append(
                        InvertedResidual(
                            inplanes,
                            planes,
                            stride if i == 0 else 1,
                            expansion,
                            block_attn,
                            kernel_size,
                            activation,
                            se_ratio,
                        )
                    )
                    inplanes = planes
            stages.append(nn.Sequential(*blocks))
            stage_channels.append(inplanes)
            reductions.append(math.prod(g[4] for g in groups) * (reductions or [1])[-1])
        super().__init__(
            name,
            in_chans,
            num_classes,
            nn.Sequential(*conv_bn_act(in_chans, 32, 3, activation)),
            stages,
            stage_channels,
            attention,
            reductions=reductions,
            head=nn.Sequential(*conv_bn_act(inplanes, 1280, 1, activation)),
            num_features=1280,
            dropout=drop_rate,
        )
