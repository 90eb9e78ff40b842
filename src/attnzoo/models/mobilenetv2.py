"""MobileNetV2 for CIFAR (Sandler, Howard, Zhu, Zhmoginov, Chen, "MobileNetV2: Inverted residuals
and linear bottlenecks", CVPR 2018).

The paper's network (width 1.0): a 32-wide 3x3 stem, 17 inverted residual blocks (1x1 expansion
by t, 3x3 depthwise, linear 1x1 projection; no expansion convolution when t = 1; an identity
shortcut where stride and width allow), a 1x1 convolution to 1280 and the classifier, ReLU6
throughout. CIFAR adaptation, as the common public CIFAR code: the stem and the first block of
the 24-wide group have stride 1 instead of 2, so 32x32 inputs end at 4x4 (total stride 8).

Stages are the blocks at one resolution: the 16- and 24-wide blocks (32x32), the 32-wide ones
(16x16), the 64- and 96-wide ones (8x8), the 160- and 320-wide ones (4x4). ``features`` gives
maps of 24, 32, 96 and 320 channels; the 1280-wide convolution is the ``head``.

Attention inside a block goes after the projection's BatchNorm, before the residual addition
(where the block has one).

Parameters (100 classes): 2.352M (2.237M with 10 classes, 3.505M with torchvision's 1000-class
head, which it matches); multiply-adds at 32x32: 0.088G. The BA2M paper's Table X gives 2.26M and
0.07G. No public CIFAR variant reproduces the count with a 100-class head (strides change no
parameter; the variant with 1x1 projection shortcuts has 2.412M, the one with biases on every
convolution 2.369M), so we keep the paper's network. Of the stride layouts, this one is the
nearest to the published cost: keeping the 24-wide group's stride and removing the 160-wide
group's instead gives 0.044G, removing the stem's stride alone 0.025G.
``drop_rate`` is dropout before the classifier, 0 by default as in the public CIFAR code (the BA2M
paper gives none). Convolutions: He (fan-out) initialisation, as torchvision's MobileNetV2.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import StagedNet
from .placement import AttentionPlan, LayerFactory
from .registry import register_model
from .resnet import conv

# (expansion t, width, blocks, stride of the first block), the paper's Table 2 with the 24-wide
# group at stride 1; groups sharing a resolution form one stage.
SETTINGS = (
    ((1, 16, 1, 1), (6, 24, 2, 1)),
    ((6, 32, 3, 2),),
    ((6, 64, 4, 2), (6, 96, 3, 1)),
    ((6, 160, 3, 2), (6, 320, 1, 1)),
)


def conv_bn_relu6(
    cin: int, cout: int, kernel_size: int, stride: int = 1, groups: int = 1
) -> list[nn.Module]:
    return [conv(cin, cout, kernel_size, stride, groups), nn.BatchNorm2d(cout), nn.ReLU6(True)]


class InvertedResidual(nn.Module):
    """[1x1 expansion-BN-ReLU6] 3x3 depthwise-BN-ReLU6, 1x1 projection-BN [attention] + input."""

    def __init__(
        self, inplanes: int, planes: int, stride: int, expansion: int, attn_layer: LayerFactory
    ) -> None:
        super().__init__()
        hidden = inplanes * expansion
        expand = conv_bn_relu6(inplanes, hidden, 1) if expansion != 1 else []
        self.branch = nn.Sequential(
            *expand, *conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            conv(hidden, planes, 1), nn.BatchNorm2d(planes),
        )  # fmt: skip
        self.attn = attn_layer(planes)
        self.residual = stride == 1 and inplanes == planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.attn(self.branch(x))
        return x + out if self.residual else out


class MobileNetV2(StagedNet):
    """MobileNetV2 (width 1.0) with CIFAR strides; ``drop_rate`` is the classifier's dropout."""

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        attention: AttentionPlan | None = None,
        name: str = "mobilenetv2_cifar",
        drop_rate: float = 0.0,
    ) -> None:
        attention = attention or AttentionPlan()
        block_attn = attention.block_layer()
        inplanes, stages, stage_channels = 32, [], []
        for groups in SETTINGS:
            blocks = []
            for expansion, planes, depth, stride in groups:
                for i in range(depth):
                    blocks.append(
                        InvertedResidual(
                            inplanes, planes, stride if i == 0 else 1, expansion, block_attn
                        )
                    )
                    inplanes = planes
            stages.append(nn.Sequential(*blocks))
            stage_channels.append(inplanes)
        super().__init__(
            name,
            in_chans,
            num_classes,
            nn.Sequential(*conv_bn_relu6(in_chans, 32, 3)),
            stages,
            stage_channels,
            attention,
            head=nn.Sequential(*conv_bn_relu6(inplanes, 1280, 1)),
            num_features=1280,
            dropout=drop_rate,
        )


register_model("mobilenetv2_cifar", 10)(MobileNetV2)
