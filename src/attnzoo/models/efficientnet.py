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

from functools import partial

from torch import nn

from .inverted_residual import InvertedResidualNet
from .registry import register_model

# (expansion, width, blocks, kernel size, stride of the first block): the paper's Table 1; the
# groups that share a resolution form one stage.
SETTINGS = (
    ((1, 16, 1, 3, 1),),
    ((6, 24, 2, 3, 2),),
    ((6, 40, 2, 5, 2),),
    ((6, 80, 3, 3, 2), (6, 112, 3, 5, 1)),
    ((6, 192, 4, 5, 2), (6, 320, 1, 3, 1)),
)

register_model("efficientnet_b0_cifar", 10)(
    partial(InvertedResidualNet, SETTINGS, activation=nn.SiLU, se_ratio=0.25, drop_rate=0.2)
)
