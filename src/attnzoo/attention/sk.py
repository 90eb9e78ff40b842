"""Selective Kernel convolution (Li, Wang, Hu, Yang, "Selective Kernel Networks", CVPR 2019).

Split, fuse, select, in place of a block's 3x3 convolution (``"conv"`` placement):

    U_m = ReLU(BN(conv3x3_m(x)))             m = 1..M paths, same stride; path m dilated m times
    z   = ReLU(BN(W_z GAP(sum_m U_m)))       W_z: C -> d, d = max(C / r, L), no bias
    a   = softmax over m of (W_m z)          per channel; W_m: d -> C, no bias
    V   = sum_m a_m * U_m

A 3x3 convolution dilated twice stands for the paper's 5x5, as in the authors' Caffe models
(implus/SKNet). The M maps W_m are one 1x1 convolution d -> M*C whose output is read as (M, C), as
those models reshape it.

The defaults reproduce the "+SK" rows of the BA2M paper's Table V (ResNet-50 26.15M, ResNet-101
45.68M), which come from the SGE paper and its code by the SK paper's first author
(implus/PytorchInsight, ``resnet_sk.py``): there, the first path keeps the block's own 3x3
convolution (``groups``: 1 in a ResNet) and the second is grouped with G = 32, and d = C / 16 with
no floor. With a ResNeXt's groups = 32 the paths are those of SKNet; the SKNet models
(:mod:`attnzoo.models.sknet`) add the SK paper's floor L = 32 (``min_channels=32``).

Differences from the sources:

* every extra path is dilated (the SK paper); PytorchInsight's second path is an undilated grouped
  3x3, which ``dilated=False`` gives (the parameters and multiply-adds are the same);
* ``path_groups=None`` takes G = 32 where it divides the width and gcd(32, width) otherwise, so that
  narrow CIFAR bottlenecks (widths 16) can take the module at all.

In a bottleneck no BN-ReLU follows this module (``ends_with_bn_relu``), as in both sources: its
paths end in one, and the selection of non-negative maps needs no second.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from ..validation import AttnzooError
from ._checks import check_feature_map, check_groups, check_positive, check_train_batch
from .base import ConvAttentionModule
from .registry import register_attention

SK_PAPER_GROUPS = 32  # the cardinality G of SKNet's paths


def _path(cin: int, cout: int, stride: int, dilation: int, groups: int) -> nn.Sequential:
    conv = nn.Conv2d(
        cin, cout, 3, stride, padding=dilation, dilation=dilation, groups=groups, bias=False
    )
    # The initialisation of the block convolution it replaces (torchvision's ResNets).
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


@register_attention("sk")
class SK(ConvAttentionModule):
    """M convolution paths (``paths``) mixed per channel by a softmax over the paths.

    ``groups``: the first path's groups (the block's). ``path_groups``: the other paths' groups
    (None: 32, see the module docstring). ``reduction`` r and ``min_channels`` L set
    d = max(C // r, L). ``dilated``: path m is dilated m times, else all paths are plain 3x3.
    """

    ends_with_bn_relu = True  # each path ends in BN-ReLU: a bottleneck adds none after it

    option_help: ClassVar[dict[str, str]] = {
        "out_channels": "C', the output width (the replaced convolution's; None: C)",
        "stride": "the replaced convolution's stride, on every path",
        "groups": "the first path's groups (the replaced convolution's)",
        "paths": "M, the number of paths (at least 2)",
        "reduction": "r, the ratio of C' to d",
        "min_channels": "L, the smallest d",
        "path_groups": "the other paths' groups; None: 32 where it divides the width, else "
        "gcd(32, width)",
        "dilated": "path m dilated m times; False: all paths plain 3x3",
    }

    def __init__(
        self,
        channels: int,
        out_channels: int | None = None,
        stride: int = 1,
        groups: int = 1,
        paths: int = 2,
        reduction: int = 16,
        min_channels: int = 1,
        path_groups: int | None = None,
        dilated: bool = True,
    ) -> None:
        super().__init__(channels, out_channels, stride, groups)
        out_channels = self.out_channels
        if isinstance(paths, bool) or not isinstance(paths, int) or paths < 2:
            raise AttnzooError(
                f"SK: paths must be an int >= 2 (kernels to select from), got {paths!r}"
            )
        check_positive("SK", "reduction", reduction)
        check_positive("SK", "min_channels", min_channels)
        if path_groups is None:
            path_groups = math.gcd(SK_PAPER_GROUPS, channels, out_channels)
        check_groups("SK", "path_groups", path_groups, channels, out_channels)
        self.num_paths = paths
        self.paths = nn.ModuleList(
            _path(
                channels,
                out_channels,
                stride,
                dilation=m + 1 if dilated else 1,
                groups=groups if m == 0 else path_groups,
            )
            for m in range(paths)
        )
        hidden = max(out_channels // reduction, min_channels)
        self.fc1 = nn.Conv2d(out_channels, hidden, 1, bias=False)
        self.bn = nn.BatchNorm2d(hidden)
        self.fc2 = nn.Conv2d(hidden, paths * out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("SK", x, self.channels)
        check_train_batch(
            "SK", x, self.training, "it batch-normalises one pooled vector per sample"
        )
        u = torch.stack([path(x) for path in self.paths], dim=1)  # (N, M, C, H, W)
        z = torch.relu(self.bn(self.fc1(u.sum(1).mean((2, 3), keepdim=True))))
        logits = self.fc2(z).view(x.shape[0], self.num_paths, self.out_channels, 1, 1)
        return (u * logits.softmax(1)).sum(1)
