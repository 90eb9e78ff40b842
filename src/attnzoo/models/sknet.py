"""SKNet-50/101 (Li, Wang, Hu, Yang, CVPR 2019): ResNeXt-50/101 (32x4d) with a selective kernel
convolution (:class:`~attnzoo.attention.sk.SK`) in place of every bottleneck's grouped 3x3.

As the authors' Caffe models (implus/SKNet ``sknet50.prototxt``, ``sknet101.prototxt``): two paths,
3x3 and 3x3 dilated twice, both with G = 32 groups, the stride on both (torchvision's v1.5 layout;
``stride_in_1x1=True`` gives the v1 one), d = max(C / 16, 32): 27,479,784 parameters, the SK
paper's 27.5M. SKNet-101 has 48,736,040 against the published 48.9M: the authors' prototxt gives
ours; counting each BatchNorm's running statistics as parameters would give 48.91M (not shown).

An ``attention`` given to ``create_model`` adds to the selective kernels:
``create_model("sknet50", attention="se")`` is SKNet-50 with SE in every block. A second module in
place of the block convolutions is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from ..validation import AttnzooError
from .placement import AttentionPlan, plan_attention
from .registry import register_model
from .resnet import Bottleneck, ResNet
from .resnets import IMAGENET_WIDTHS

SKNET_OPTIONS = {"min_channels": 32}  # the SK paper's L; G = 32 is the blocks' own groups


def sknet(
    layers: Sequence[int],
    *,
    num_classes: int = 1000,
    in_chans: int = 3,
    attention: AttentionPlan | None = None,
    name: str = "sknet",
    stride_in_1x1: bool = False,
) -> ResNet:
    """A ResNeXt (32x4d) of ``layers`` bottlenecks per stage whose 3x3 convolutions are SK ones."""
    user = attention or AttentionPlan()
    taken = [e.name for e in user.entries if e.placement == "conv"]
    if taken:
        raise AttnzooError(
            f"{name} already has selective kernels in place of its block convolutions; "
            f"{taken[0]} cannot replace them too (put it in a ResNeXt, e.g. resnext50_32x4d)"
        )
    plan = AttentionPlan(user.entries + plan_attention(("sk", SKNET_OPTIONS)).entries)
    return ResNet(
        Bottleneck,
        layers,
        IMAGENET_WIDTHS,
        num_classes=num_classes,
        in_chans=in_chans,
        attention=plan,
        name=name,
        groups=32,
        base_width=4,
        stride_in_1x1=stride_in_1x1,
    )


for depth, layers in {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}.items():
    register_model(f"sknet{depth}", 1000)(partial(sknet, layers))
