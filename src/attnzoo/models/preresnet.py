"""Pre-activation ResNets (He, Zhang, Ren, Sun, "Identity mappings in deep residual networks",
ECCV 2016) for CIFAR: PreResNet-110 (basic blocks, option A shortcuts as the authors' CIFAR code)
and PreResNet-164 (bottlenecks, 1x1 projection shortcuts without BatchNorm).
"""

from __future__ import annotations

from functools import partial

from .registry import register_model
from .resnet import PreActBlock, PreActBottleneck, ResNet

register_model("preresnet110", 10)(
    partial(ResNet, PreActBlock, (18, 18, 18), (16, 32, 64), stem="cifar", shortcut="A")
)
register_model("preresnet164", 10)(
    partial(ResNet, PreActBottleneck, (18, 18, 18), (16, 32, 64), stem="cifar", shortcut="conv")
)
