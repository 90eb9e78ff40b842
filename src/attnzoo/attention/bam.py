"""BAM: Bottleneck Attention Module (Park, Woo, Lee, Kweon, BMVC 2018).

Paper form (``form="paper"``, default):

    Mc = BN(W1 (W0 GAP(x) + b0) + b1)                                   C -> C/r -> C
    Ms = BN(conv1x1(dconv3x3(dconv3x3(conv1x1(x)))))                    C -> C/r -> C/r -> C/r -> 1
    y  = x + x * sigmoid(Mc + Ms)

with BN + ReLU between the convolutions and dilation 4. The paper's equation has no activation
inside the channel MLP, and this form follows it.

Authors' code form (``form="code"``): BN1d + ReLU after W0, no final BN in either branch, and the
branches are fused by a product, y = x + x * sigmoid(Mc * Ms). Unlike that code, which pools with a
kernel of size H and so breaks for H != W, both forms pool over (H, W) and take any spatial size.

Placed after every stage but the last (three modules in a ResNet-50).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ._checks import check_choice, check_feature_map, check_positive, check_train_batch
from .base import AttentionModule
from .registry import register_attention


def _conv_bn_relu(cin: int, cout: int, kernel_size: int, dilation: int = 1) -> list[nn.Module]:
    padding = dilation * (kernel_size // 2)
    return [
        nn.Conv2d(cin, cout, kernel_size, padding=padding, dilation=dilation),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


@register_attention("bam")
class BAM(AttentionModule):
    default_placement = "stage"
    default_stages = "all_but_last"

    option_help: ClassVar[dict[str, str]] = {
        "reduction": "r, the ratio of C to the hidden width",
        "dilation": "D, the dilation (and padding) of the 3x3 convolutions",
        "num_dilated_convs": "n, the number of dilated 3x3 convolutions",
        "form": "'paper' (the paper's equations) or 'code' (the authors' code)",
        "min_channels": "L, the smallest hidden width",
    }

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        dilation: int = 4,
        num_dilated_convs: int = 2,
        form: str = "paper",
        min_channels: int = 1,
    ) -> None:
        super().__init__()
        check_positive("BAM", "reduction", reduction)
        check_choice("BAM", "form", form, ("paper", "code"))
        self.channels = channels
        self.form = form
        hidden = max(channels // reduction, min_channels)
        if form == "paper":
            self.channel_att = nn.Sequential(
                nn.Linear(channels, hidden), nn.Linear(hidden, channels), nn.BatchNorm1d(channels)
            )
        else:
            self.channel_att = nn.Sequential(
                nn.Linear(channels, hidden),
                nn.BatchNorm1d(hidden),
                nn.ReLU(inplace=True),
                nn.Linear(hidden, channels),
            )
        spatial = _conv_bn_relu(channels, hidden, 1)
        for _ in range(num_dilated_convs):
            spatial += _conv_bn_relu(hidden, hidden, 3, dilation)
        spatial.append(nn.Conv2d(hidden, 1, 1))
        if form == "paper":
            spatial.append(nn.BatchNorm2d(1))
        self.spatial_att = nn.Sequential(*spatial)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("BAM", x, self.channels)
        check_train_batch("BAM", x, self.training, "BatchNorm1d over the channel attention")
        mc = self.channel_att(x.mean((2, 3)))[:, :, None, None]
        ms = self.spatial_att(x)
        fused = mc + ms if self.form == "paper" else mc * ms
        return x + x * torch.sigmoid(fused)
