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

from functools import partial

from torch import nn

from .inverted_residual import InvertedResidualNet
from .registry import register_model

# (expansion t, width, blocks, kernel size, stride of the first block): the paper's Table 2 with
# the 24-wide group at stride 1; groups sharing a resolution form one stage.
SETTINGS = (
    ((1, 16, 1, 3, 1), (6, 24, 2, 3, 1)),
    ((6, 32, 3, 3, 2),),
    ((6, 64, 4, 3, 2), (6, 96, 3, 3, 1)),
    ((6, 160, 3, 3, 2), (6, 320, 1, 3, 1)),
)

register_model("mobilenetv2_cifar", 10)(
    partial(InvertedResidualNet, SETTINGS, activation=nn.ReLU6, drop_rate=0.0)
)
