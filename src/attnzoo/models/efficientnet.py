"""EfficientNet-B0 for CIFAR (Tan & Le, "EfficientNet: Rethinking model scaling for convolutional
neural networks", ICML 2019).

The paper's B0: a 32-wide 3x3 stem, 16 MBConv blocks in seven groups (1x1 expansion by 1 or 6,
3x3 or 5x5 depthwise, squeeze-and-excitation reducing to a quarter of the block's input width,
linear 1x1 projection, identity shortcut where stride and width allow), a 1x1 convolution to 1280,
Swish (SiLU) throughout, dropout 0.2 before the classifier. CIFAR adaptation, as the common public
CIFAR code: the stem has stride 1 and the blocks keep theirs, so 32x32 inputs end at 2x2 (total
stride 16), the layout whose cost matches the published 0.03G; removing one more stride would
quadruple it. Stages are the blocks at one resolution: 16 wide (32x32), 24 (16x16), 40 (8x8),
80 and 112 (4x4), 192 and 320 (2x2); the 1280-wide convolution is the ``head``.

Attention inside a block goes after the projection's BatchNorm, before the residual addition
(where the block has one). The block's own squeeze-and-excitation, part of EfficientNet, stays in
every configuration (with ``attention="se"`` a block has both).

Parameters (100 classes): 4.136M (4.020M with 10 classes, 5.289M with torchvision's 1000-class
head, which it matches); multiply-adds at 32x32: 0.032G. The BA2M paper's Table X gives 2.80M,
which no variant reproduces: without the 1280-wide convolution (as some CIFAR code) it is 3.627M,
without the blocks' squeeze-and-excitation as well 2.991M. Its BA2M row (4.18M) is near the count
with the 1280-wide convolution, which we keep. ``drop_rate`` defaults to the paper's 0.2; the
paper's stochastic depth is left out (no backbone here has it).
Convolutions: He (fan-out) initialisation and zero biases, as torchvision's EfficientNet.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import StagedNet
from .placement import AttentionPlan, LayerFactory
from .registry import register_model
from .resnet import conv

# (expansion, width, blocks, kernel size, stride of the first block): the paper's Table 1; the
# groups that share a resolution form one stage.
SETTINGS = (
    ((1, 16, 1, 3, 1),),
    ((6, 24, 2, 3, 2),),
    ((6, 40, 2, 5, 2),),
    ((6, 80, 3, 3, 2), (6, 112, 3, 5, 1)),
    ((6, 192, 4, 5, 2), (6, 320, 1, 3, 1)),
)


def conv_bn_silu(
    cin: int, cout: int, kernel_size: int, stride: int = 1, groups: int = 1
) -> list[nn.Module]:
    return [conv(cin, cout, kernel_size, stride, groups), nn.BatchNorm2d(cout), nn.SiLU(True)]


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


class MBConv(nn.Module):
    """[1x1 expansion-BN-SiLU] kxk depthwise-BN-SiLU, SE, 1x1 projection-BN [attention] + input."""

    def __init__(
        self,
        inplanes: int,
        planes: int,
        kernel_size: int,
        stride: int,
        expansion: int,
        attn_layer: LayerFactory,
    ) -> None:
        super().__init__()
        hidden = inplanes * expansion
        expand = conv_bn_silu(inplanes, hidden, 1) if expansion != 1 else []
        self.branch = nn.Sequential(
            *expand, *conv_bn_silu(hidden, hidden, kernel_size, stride, groups=hidden),
            SqueezeExcite(hidden, max(1, inplanes // 4)), conv(hidden, planes, 1),
            nn.BatchNorm2d(planes),
        )  # fmt: skip
        self.attn = attn_layer(planes)
        self.residual = stride == 1 and inplanes == planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.attn(self.branch(x))
        return x + out if self.residual else out


class EfficientNet(StagedNet):
    """EfficientNet-B0 with a stride-1 stem; ``drop_rate`` is the classifier's dropout."""

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        attention: AttentionPlan | None = None,
        name: str = "efficientnet_b0_cifar",
        drop_rate: float = 0.2,
    ) -> None:
        attention = attention or AttentionPlan()
        block_attn = attention.block_layer()
        inplanes, stages, stage_channels = 32, [], []
        for groups in SETTINGS:
            blocks = []
            for expansion, planes, depth, kernel_size, stride in groups:
                for i in range(depth):
                    blocks.append(
                        MBConv(
                            inplanes, planes, kernel_size, stride if i == 0 else 1, expansion,
                            block_attn,
                        )
                    )  # fmt: skip
                    inplanes = planes
            stages.append(nn.Sequential(*blocks))
            stage_channels.append(inplanes)
        super().__init__(
            name,
            in_chans,
            num_classes,
            nn.Sequential(*conv_bn_silu(in_chans, 32, 3)),
            stages,
            stage_channels,
            attention,
            head=nn.Sequential(*conv_bn_silu(inplanes, 1280, 1)),
            num_features=1280,
            dropout=drop_rate,
        )


register_model("efficientnet_b0_cifar", 10)(EfficientNet)
