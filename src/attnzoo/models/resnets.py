"""ResNets (He et al., CVPR 2016): ImageNet, CIFAR-stem, He et al.'s CIFAR and bottleneck 9n + 2."""

from __future__ import annotations

from functools import partial

from .registry import register_model
from .resnet import BasicBlock, Bottleneck, ResNet

IMAGENET_WIDTHS = (64, 128, 256, 512)
IMAGENET_DEPTHS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    26: (Bottleneck, (2, 2, 2, 2)),  # timm's ResNet-26 (resnet26, its 'd'/'t' and attention nets)
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}

for depth, (block, layers) in IMAGENET_DEPTHS.items():
    register_model(f"resnet{depth}", 1000)(
        partial(ResNet, block, layers, IMAGENET_WIDTHS, stem="imagenet")
    )
    register_model(f"resnet{depth}_cifar", 10)(
        partial(ResNet, block, layers, IMAGENET_WIDTHS, stem="cifar")
    )

# Wide ResNet-50-2 / -101-2 as torchvision and timm (Zagoruyko & Komodakis's widening of the
# ImageNet bottleneck): the 3x3 convolutions twice as wide (base_width 128), the outputs unchanged.
for depth in (50, 101):
    register_model(f"wide_resnet{depth}_2", 1000)(
        partial(ResNet, Bottleneck, IMAGENET_DEPTHS[depth][1], IMAGENET_WIDTHS, base_width=128)
    )

# He et al. (2016), Section 4.2: 6n + 2 layers of basic blocks, option A shortcuts.
for depth in (20, 32, 56, 110):
    n = (depth - 2) // 6
    register_model(f"resnet{depth}", 10)(
        partial(ResNet, BasicBlock, (n, n, n), (16, 32, 64), stem="cifar", shortcut="A")
    )

# Bottleneck CIFAR ResNets of depth 9n + 2 (SPEM's backbones), projection shortcuts.
for depth in (83, 164, 245, 326):
    n = (depth - 2) // 9
    register_model(f"resnet{depth}", 10)(
        partial(ResNet, Bottleneck, (n, n, n), (16, 32, 64), stem="cifar", shortcut="B")
    )
