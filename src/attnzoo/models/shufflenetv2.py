"""ShuffleNetV2 1x for CIFAR (Ma, Zhang, Zheng, Sun, "ShuffleNet V2: Practical guidelines for
efficient CNN architecture design", ECCV 2018).

The paper's 1x network: stages of 4, 8 and 4 units, 116, 232 and 464 wide, each opening with a
stride-2 unit (both halves computed from the whole input) followed by units that split the
channels in halves and transform one; the halves are concatenated and shuffled. A 1x1
convolution to 1024 precedes pooling. CIFAR adaptation, as the common public CIFAR code: the stem
is a stride-1 3x3 convolution (24 wide, BN-ReLU) without max-pooling, so 32x32 inputs end at
4x4 (total stride 8). Each stage is the units at one resolution (16x16, 8x8, 4x4); the 1024-wide
convolution is the ``head``.

Attention inside a unit goes on the transformed half (the right branch of a stride-2 unit), after
its last BN-ReLU, before concatenation and the channel shuffle: it sees half the unit's width.

Parameters (100 classes): 1.356M (1.264M with 10 classes); multiply-adds at 32x32: 0.045G. The
BA2M paper's Table X gives 1.3M and 0.05G. The 1.356M of the paper's layout (torchvision's, whose
1000-class count 2.279M this reproduces) rounds to 1.4M; no public CIFAR variant is smaller (one
with biases on every convolution has 1.361M). The published 1.3M matches the 10-class count.
Convolutions: He (fan-out) initialisation, as the library's other backbones.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import StagedNet
from .placement import AttentionPlan, LayerFactory
from .registry import register_model
from .resnet import bn_relu, conv


def channel_shuffle(x: torch.Tensor) -> torch.Tensor:
    """Interleave the two concatenated halves, so the next unit's split mixes both."""
    n, c, h, w = x.shape
    return x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)


def branch(inplanes: int, planes: int, stride: int) -> nn.Sequential:
    """1x1-BN-ReLU, 3x3 depthwise (strided)-BN, 1x1-BN-ReLU."""
    return nn.Sequential(
        conv(inplanes, planes, 1),
        *bn_relu(planes),
        conv(planes, planes, 3, stride, planes),
        nn.BatchNorm2d(planes),
        conv(planes, planes, 1),
        *bn_relu(planes),
    )


class ShuffleUnit(nn.Module):
    """Split; right half: branch [attention]; concatenate after the left half; shuffle."""

    def __init__(self, planes: int, attn_layer: LayerFactory) -> None:
        super().__init__()
        self.branch = branch(planes // 2, planes // 2, 1)
        self.attn = attn_layer(planes // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat([left, self.attn(self.branch(right))], 1))


class ShuffleDownUnit(nn.Module):
    """Left: 3x3 depthwise/2-BN, 1x1-BN-ReLU; right: strided branch [attention]; concat, shuffle."""

    def __init__(self, inplanes: int, planes: int, attn_layer: LayerFactory) -> None:
        super().__init__()
        half = planes // 2
        self.left = nn.Sequential(
            conv(inplanes, inplanes, 3, 2, inplanes),
            nn.BatchNorm2d(inplanes),
            conv(inplanes, half, 1),
            *bn_relu(half),
        )
        self.branch = branch(inplanes, half, 2)
        self.attn = attn_layer(half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(torch.cat([self.left(x), self.attn(self.branch(x))], 1))


class ShuffleNetV2(StagedNet):
    """ShuffleNetV2 with a CIFAR stem; ``widths`` and ``depths`` (units) per stage; 1x default."""

    def __init__(
        self,
        widths: Sequence[int] = (116, 232, 464),
        depths: Sequence[int] = (4, 8, 4),
        num_features: int = 1024,
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        attention: AttentionPlan | None = None,
        name: str = "shufflenetv2_cifar",
    ) -> None:
        attention = attention or AttentionPlan()
        inplanes, stages = 24, []
        for number, (planes, depth) in enumerate(zip(widths, depths, strict=True), start=1):
            block_attn = attention.block_layer(number)
            units = [ShuffleDownUnit(inplanes, planes, block_attn)]
            units += [ShuffleUnit(planes, block_attn) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*units))
            inplanes = planes
        super().__init__(
            name,
            in_chans,
            num_classes,
            nn.Sequential(conv(in_chans, 24, 3), *bn_relu(24)),
            stages,
            widths,
            attention,
            reductions=[2**i for i in range(1, len(widths) + 1)],  # each stage opens with a /2
            head=nn.Sequential(conv(inplanes, num_features, 1), *bn_relu(num_features)),
            num_features=num_features,
        )


@register_model("shufflenetv2_cifar", 10)
def shufflenetv2_cifar(
    *, num_classes: int, in_chans: int, attention: AttentionPlan, name: str
) -> ShuffleNetV2:
    return ShuffleNetV2(num_classes=num_classes, in_chans=in_chans, attention=attention, name=name)
