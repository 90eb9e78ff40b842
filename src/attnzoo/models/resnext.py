"""ResNeXt (Xie, Girshick, Dollar, Tu, He, CVPR 2017): bottlenecks with grouped 3x3 convolutions.

ImageNet ResNeXt-50/101 (32x4d) follow torchvision (25.03M and 44.18M, the CBAM paper's Table 4
rows); ResNeXt-101 32x8d and 64x4d are torchvision's other published ones, ResNeXt-26 32x4d the
backbone of timm's ``seresnext26d_32x4d`` and kin.
ResNeXt-29 (8x64d) is the paper's CIFAR model: a 64-wide 3x3 stem, three stages of three
blocks with 256/512/1024 output channels and 512/1024/2048-wide grouped convolutions.
"""

from __future__ import annotations

from functools import partial

from .registry import register_model
from .resnet import Bottleneck, ResNet
from .resnets import IMAGENET_WIDTHS

IMAGENET_RESNEXTS = {
    "resnext26_32x4d": ((2, 2, 2, 2), 32, 4),  # timm's 26-layer ones (seresnext26d_32x4d, ...)
    "resnext50_32x4d": ((3, 4, 6, 3), 32, 4),
    "resnext101_32x4d": ((3, 4, 23, 3), 32, 4),
    "resnext101_32x8d": ((3, 4, 23, 3), 32, 8),  # torchvision's and timm's published ones
    "resnext101_64x4d": ((3, 4, 23, 3), 64, 4),
}
for name, (layers, groups, base_width) in IMAGENET_RESNEXTS.items():
    register_model(name, 1000)(
        partial(ResNet, Bottleneck, layers, IMAGENET_WIDTHS, groups=groups, base_width=base_width)
    )

register_model("resnext29_8x64d", 10)(
    partial(ResNet, Bottleneck, (3, 3, 3), (64, 128, 256), stem="cifar", groups=8, base_width=64)
)
