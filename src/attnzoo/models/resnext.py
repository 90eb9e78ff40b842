"""ResNeXt (Xie, Girshick, Dollar, Tu, He, CVPR 2017): bottlenecks with grouped 3x3 convolutions.

ImageNet ResNeXt-50/101 (32x4d) follow torchvision (25.03M and 44.18M, the CBAM paper's Table 4
rows). ResNeXt-29 (8x64d) is the paper's CIFAR model: a 64-wide 3x3 stem, three stages of three
blocks with 256/512/1024 output channels and 512/1024/2048-wide grouped convolutions.
"""

from __future__ import annotations

from functools import partial

from .registry import register_model
from .resnet import Bottleneck, ResNet
from .resnets import IMAGENET_WIDTHS

for depth, layers in {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}.items():
    register_model(f"resnext{depth}_32x4d", 1000)(
        partial(ResNet, Bottleneck, layers, IMAGENET_WIDTHS, groups=32, base_width=4)
    )

register_model("resnext29_8x64d", 10)(
    partial(ResNet, Bottleneck, (3, 3, 3), (64, 128, 256), stem="cifar", groups=8, base_width=64)
)
