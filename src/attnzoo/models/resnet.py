"""ResNets (He, Zhang, Ren, Sun, CVPR 2016) with attention inside blocks and between stages.

One :class:`ResNet` class builds every variant the papers use:

* ImageNet ResNet-18/34/50/101: torchvision's layout (7x7 stride-2 stem and max-pool, stride on the
  bottleneck's 3x3 convolution, projection shortcuts);
* the same with a CIFAR stem (3x3 stride-1, no max-pool), as the BA2M paper's CIFAR-100 ResNets;
* He et al.'s CIFAR ResNet-20/32/56/110: basic blocks, widths 16/32/64 and parameter-free
  shortcuts (option A: subsample and zero-pad channels), as in the original paper;
* the bottleneck CIFAR ResNet of depth 9n + 2 (83/164/245/326) used by SPEM, widths 16/32/64 x 4
  with projection shortcuts.

A block's attention module sits on the residual branch after the last BatchNorm, before the
addition; a stage's after the stage's last block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .placement import AttentionPlan, LayerFactory


def conv(cin: int, cout: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """Bias-free convolution with He (fan-out) initialisation, as torchvision's ResNets."""
    layer = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    return layer


class PadShortcut(nn.Module):
    """Option A shortcut: subsample spatially and zero-pad the new channels (no parameters)."""

    def __init__(self, stride: int, extra_channels: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


def _shortcut(kind: str, inplanes: int, planes: int, stride: int) -> nn.Module:
    if stride == 1 and inplanes == planes:
        return nn.Identity()
    if kind == "A":
        return PadShortcut(stride, planes - inplanes)
    return nn.Sequential(conv(inplanes, planes, 1, stride), nn.BatchNorm2d(planes))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int,
        shortcut: str,
        attn_layer: LayerFactory | None,
    ) -> None:
        super().__init__()
        self.conv1 = conv(inplanes, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.attn = attn_layer(planes) if attn_layer else nn.Identity()
        self.shortcut = _shortcut(shortcut, inplanes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.attn(self.bn2(self.conv2(out)))
        return F.relu(out + self.shortcut(x), inplace=True)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int,
        shortcut: str,
        attn_layer: LayerFactory | None,
    ) -> None:
        super().__init__()
        width = planes * self.expansion
        self.conv1 = conv(inplanes, planes, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv(planes, width, 1)
        self.bn3 = nn.BatchNorm2d(width)
        self.attn = attn_layer(width) if attn_layer else nn.Identity()
        self.shortcut = _shortcut(shortcut, inplanes, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.attn(self.bn3(self.conv3(out)))
        return F.relu(out + self.shortcut(x), inplace=True)


class ResNet(nn.Module):
    """A ResNet of ``len(layers)`` stages; ``features`` gives each stage's output."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: tuple[int, ...],
        widths: tuple[int, ...],
        *,
        stem: str = "imagenet",
        shortcut: str = "B",
        num_classes: int = 1000,
        in_chans: int = 3,
        attention: AttentionPlan | None = None,
        name: str = "resnet",
    ) -> None:
        super().__init__()
        attention = attention or AttentionPlan()
        self.name, self.in_chans, self.num_classes = name, in_chans, num_classes
        stem_width = widths[0]
        if stem == "imagenet":
            self.stem = nn.Sequential(
                conv(in_chans, stem_width, 7, 2),
                nn.BatchNorm2d(stem_width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
        else:
            self.stem = nn.Sequential(
                conv(in_chans, stem_width, 3),
                nn.BatchNorm2d(stem_width),
                nn.ReLU(inplace=True),
            )
        block_attn = attention.block_layer()
        inplanes, stages, stage_attn = stem_width, [], []
        for index, (depth, planes) in enumerate(zip(layers, widths, strict=True)):
            blocks = []
            for i in range(depth):
                stride = 2 if index > 0 and i == 0 else 1
                blocks.append(block(inplanes, planes, stride, shortcut, block_attn))
                inplanes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
            factory = attention.stage_layer(index, len(layers))
            stage_attn.append(factory(inplanes) if factory else nn.Identity())
        self.stages = nn.ModuleList(stages)
        self.stage_attn = nn.ModuleList(stage_attn)
        self.num_features = inplanes
        self.fc = nn.Linear(inplanes, num_classes)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-stage feature maps (after each stage's attention), for heads and necks."""
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"{self.name} expects input of shape (N, {self.in_chans}, H, W); "
                f"got {tuple(x.shape)}"
            )
        x = self.stem(x)
        out = []
        for stage, attn in zip(self.stages, self.stage_attn, strict=True):
            x = attn(stage(x))
            out.append(x)
        return out

    def forward_head(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.fc(features[-1].mean((2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.features(x))
