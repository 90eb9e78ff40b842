"""Residual networks: ResNet, ResNeXt, pre-activation ResNet and Wide ResNet, in one class.

* ResNet (He, Zhang, Ren, Sun, CVPR 2016): torchvision's layout for ImageNet (7x7 stride-2 stem
  and max-pool, stride on the bottleneck's 3x3 convolution, projection shortcuts); a CIFAR stem
  (3x3 stride-1, no max-pool); He et al.'s CIFAR ResNet-20/32/56/110 with parameter-free option A
  shortcuts; the bottleneck CIFAR ResNet of depth 9n + 2 that SPEM uses.
* ResNeXt (Xie et al., CVPR 2017): the bottleneck with a grouped 3x3 convolution, its width
  ``int(planes * base_width / 64) * groups`` as in torchvision and the authors' CIFAR code.
* Pre-activation ResNet (He et al., ECCV 2016) and Wide ResNet (Zagoruyko & Komodakis, BMVC 2016):
  BN-ReLU-conv blocks, a convolution-only stem and a final BN-ReLU before pooling; a projection
  shortcut takes the pre-activated input, as in both papers' code. WRN blocks have the dropout
  option between their two convolutions.

Attention inside a block sits on the residual branch at its end, before the addition: after the
last BatchNorm in post-activation blocks, after the last convolution in pre-activation ones (they
end with a convolution).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..attention.base import AttentionModule
from ..validation import AttnzooError
from .base import StagedNet
from .placement import AttentionPlan, ConvFactory, LayerFactory


def conv(cin: int, cout: int, kernel_size: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """Bias-free convolution with He (fan-out) initialisation, as torchvision's ResNets."""
    layer = nn.Conv2d(
        cin, cout, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups, bias=False
    )
    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    return layer


def _conv3x3(cin: int, cout: int, stride: int, groups: int) -> nn.Conv2d:
    return conv(cin, cout, 3, stride, groups)


def bn_relu(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


class PadShortcut(nn.Module):
    """Option A shortcut: subsample spatially and zero-pad the new channels (no parameters)."""

    def __init__(self, stride: int, extra_channels: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


SHORTCUTS = ("A", "B", "conv", "avg")


def _shortcut(kind: str, inplanes: int, planes: int, stride: int) -> nn.Module:
    """Identity where shapes match; else option A (pad), B (conv + BN), "conv" (conv alone) or
    "avg": ResNet-D's (Bag of Tricks, He et al., CVPR 2019) 2x2 average pool, then a stride-1
    conv + BN, laid out as timm's ``avg_down`` (pool, conv, BN; an identity pool at stride 1)."""
    if stride == 1 and inplanes == planes:
        return nn.Identity()
    if kind == "A":
        return PadShortcut(stride, planes - inplanes)
    if kind == "conv":
        return conv(inplanes, planes, 1, stride)
    if kind == "avg":
        pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
        return nn.Sequential(
            pool if stride > 1 else nn.Identity(), conv(inplanes, planes, 1), nn.BatchNorm2d(planes)
        )
    return nn.Sequential(conv(inplanes, planes, 1, stride), nn.BatchNorm2d(planes))


class PostActivationBlock(nn.Module):
    """relu(attn(residual(x)) + shortcut(x)): subclasses build ``residual`` (ending in BN),
    ``attn`` and ``shortcut``."""

    expansion = 1
    pre_activation = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.attn(self.residual(x)) + self.shortcut(x), inplace=True)


class PreActivationBlock(nn.Module):
    """attn(residual(preact(x))) + shortcut: subclasses build ``preact`` (BN-ReLU), ``residual``
    (ending in a convolution), ``attn`` and ``shortcut``; a projection shortcut takes the
    pre-activated input, an identity one the raw input."""

    expansion = 1
    pre_activation = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.preact(x)
        skip = x if isinstance(self.shortcut, nn.Identity) else self.shortcut(activated)
        return self.attn(self.residual(activated)) + skip


class BasicBlock(PostActivationBlock):
    """conv3x3-BN-ReLU-conv3x3-BN [attention] + shortcut, ReLU."""

    def __init__(
        self, inplanes: int, planes: int, stride: int, shortcut: str, attn_layer: LayerFactory
    ) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            conv(inplanes, planes, 3, stride),
            *bn_relu(planes),
            conv(planes, planes, 3),
            nn.BatchNorm2d(planes),
        )
        self.attn = attn_layer(planes)
        self.shortcut = _shortcut(shortcut, inplanes, planes, stride)


class Bottleneck(PostActivationBlock):
    """1x1-BN-ReLU, 3x3 (grouped for ResNeXt, strided)-BN-ReLU, 1x1-BN [attention] + shortcut.

    ``conv_layer`` builds the module in place of the 3x3 convolution (``"conv"`` placement).
    ``stride_in_1x1`` moves the stride to the first 1x1 convolution: the original ResNet v1 and
    ResNeXt layout, whose multiply-adds the papers report (ResNet-50: 3.86G against 4.09G for
    torchvision's v1.5 layout with the stride on the 3x3; the parameters are the same).
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int,
        shortcut: str,
        attn_layer: LayerFactory,
        groups: int = 1,
        base_width: int = 64,
        stride_in_1x1: bool = False,
        conv_layer: ConvFactory | None = None,
    ) -> None:
        super().__init__()
        width = int(planes * base_width / 64) * groups
        out = planes * self.expansion
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        spatial = (conv_layer or _conv3x3)(width, width, stride_3x3, groups)
        # A module that ends in its own BN-ReLU (SK's paths) is not normalised a second time.
        done = isinstance(spatial, AttentionModule) and spatial.ends_with_bn_relu
        post = [] if done else bn_relu(width)
        self.residual = nn.Sequential(
            conv(inplanes, width, 1, stride_1x1),
            *bn_relu(width),
            spatial,
            *post,
            conv(width, out, 1),
            nn.BatchNorm2d(out),
        )
        self.attn = attn_layer(out)
        self.shortcut = _shortcut(shortcut, inplanes, out, stride)


class PreActBlock(PreActivationBlock):
    """BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3 [attention] + shortcut (He et al. 2016b; WRN)."""

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int,
        shortcut: str,
        attn_layer: LayerFactory,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.preact = bn_relu(inplanes)
        self.residual = nn.Sequential(
            conv(inplanes, planes, 3, stride),
            *bn_relu(planes),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            conv(planes, planes, 3),
        )
        self.attn = attn_layer(planes)
        self.shortcut = _shortcut(shortcut, inplanes, planes, stride)


class PreActBottleneck(PreActivationBlock):
    """BN-ReLU-1x1, BN-ReLU-3x3 (strided), BN-ReLU-1x1 [attention] + shortcut (He et al. 2016b).

    ``conv_layer`` builds the module in place of the 3x3 convolution (``"conv"`` placement).
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int,
        shortcut: str,
        attn_layer: LayerFactory,
        conv_layer: ConvFactory | None = None,
    ) -> None:
        super().__init__()
        out = planes * self.expansion
        self.preact = bn_relu(inplanes)
        spatial = (conv_layer or _conv3x3)(planes, planes, stride, 1)
        self.residual = nn.Sequential(
            conv(inplanes, planes, 1),
            *bn_relu(planes),
            spatial,
            *bn_relu(planes),
            conv(planes, out, 1),
        )
        self.attn = attn_layer(out)
        self.shortcut = _shortcut(shortcut, inplanes, out, stride)


Block = type[PostActivationBlock | PreActivationBlock]


class ResNet(StagedNet):
    """A residual network of ``len(layers)`` stages of ``block``; stage ``i`` has ``layers[i]``
    blocks of ``widths[i]`` planes (x ``block.expansion`` out), the first strided except in stage 1.

    ``stem`` is ``"imagenet"`` (7x7/2 conv-BN-ReLU, 3x3/2 max-pool), ``"deep"`` or ``"tiered"``
    (three 3x3 conv-BN-ReLU, the first strided, of 32, 32 / 24, 32 and then ``stem_width``
    channels, and the max-pool: timm's ResNet-C/-D ``stem_type="deep"`` / ``"deep_tiered"`` with
    its ``stem_width=32``) or ``"cifar"`` (3x3 conv, followed by BN-ReLU for post-activation blocks
    only). ``shortcut``: see :data:`SHORTCUTS` (``"avg"`` with a deep stem is timm's ResNet-D).
    ``groups``, ``base_width`` (ResNeXt), ``stride_in_1x1`` (ResNet v1) and ``dropout`` (WRN) go
    to the blocks that have them.
    ``input_size``: the input side the model is built for (default 224 for the ImageNet stem, 32
    for the CIFAR one); a module in place of the block convolutions that depends on its map's
    size (AA) is built for each stage's map at that size, and larger inputs are refused.
    """

    def __init__(
        self,
        block: Block,
        layers: Sequence[int],
        widths: Sequence[int],
        *,
        stem_width: int | None = None,
        stem: str = "imagenet",
        shortcut: str = "B",
        num_classes: int = 1000,
        in_chans: int = 3,
        attention: AttentionPlan | None = None,
        name: str = "resnet",
        groups: int = 1,
        base_width: int = 64,
        stride_in_1x1: bool = False,
        dropout: float = 0.0,
        input_size: int | None = None,
    ) -> None:
        attention = attention or AttentionPlan()
        input_size = _checked_layout(name, stem, shortcut, input_size)
        given = dict(
            groups=groups, base_width=base_width, stride_in_1x1=stride_in_1x1, dropout=dropout
        )
        block_options = _block_options(name, block, given, attention)
        stem_width = stem_width or widths[0]
        stem_layers = _stem(stem, in_chans, stem_width, block.pre_activation)
        reductions = [(1 if stem == "cifar" else 4) * 2**i for i in range(len(layers))]
        inplanes, stages, channels = stem_width, [], []
        for index, (depth, planes) in enumerate(zip(layers, widths, strict=True)):
            block_attn = attention.block_layer(index + 1)
            if "conv_layer" in block_options:  # a conv-placed module: its factory for this stage
                side = map_side(input_size, reductions[index])
                block_options["conv_layer"] = attention.conv_layer(side, index + 1)
            blocks = []
            for i in range(depth):
                stride = 2 if index > 0 and i == 0 else 1
                blocks.append(
                    block(inplanes, planes, stride, shortcut, block_attn, **block_options)
                )
                inplanes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
            channels.append(inplanes)
        super().__init__(
            name,
            in_chans,
            num_classes,
            nn.Sequential(*stem_layers),
            stages,
            channels,
            attention,
            reductions=reductions,
            head=bn_relu(inplanes) if block.pre_activation else None,
        )


_BLOCK_DEFAULTS = {"groups": 1, "base_width": 64, "stride_in_1x1": False, "dropout": 0.0}
# The input side each stem is made for (ImageNet crops, CIFAR images): the default size for which
# layers that depend on it (AA's relative-position tables) are built.
STEM_INPUT_SIZE = {"imagenet": 224, "deep": 224, "tiered": 224, "cifar": 32}
# The widths of the first two 3x3 convolutions of the deep stems (timm's stem_width=32).
DEEP_STEMS = {"deep": (32, 32), "tiered": (24, 32)}


def _checked_layout(name: str, stem: str, shortcut: str, input_size: int | None) -> int:
    """The input side to build for; an unknown stem or shortcut, or a bad side, is an error."""
    if stem not in STEM_INPUT_SIZE or shortcut not in SHORTCUTS:
        raise AttnzooError(
            f"{name}: stem must be one of {', '.join(STEM_INPUT_SIZE)} and shortcut one of "
            f"{', '.join(SHORTCUTS)}; got stem={stem!r}, shortcut={shortcut!r}"
        )
    input_size = STEM_INPUT_SIZE[stem] if input_size is None else input_size
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
        raise AttnzooError(f"{name}: input_size must be a positive int, got {input_size!r}")
    return input_size


def map_side(input_side: int, reduction: int) -> int:
    """The side of a stage's map ``reduction`` times smaller than the input: every stride-2
    layer here (convolution padded by k // 2, the stem's max-pool, ceil-mode pooling) gives
    ceil(side / 2)."""
    while reduction > 1:
        input_side, reduction = -(-input_side // 2), reduction // 2
    return input_side


def _block_options(
    name: str, block: Block, given: dict[str, object], attention: AttentionPlan
) -> dict[str, object]:
    """The options that differ from a plain block (a conv-placed module's factory, built per
    stage, is added by the caller); an option the blocks do not take is an error that names it."""
    options = {k: v for k, v in given.items() if v != _BLOCK_DEFAULTS[k]}
    if attention.conv_layer() is not None:
        options["conv_layer"] = None  # checked below; each stage's factory replaces it
    accepted = inspect.signature(block).parameters
    for key in options:
        if key == "conv_layer" and key not in accepted:
            raise AttnzooError(
                f"{name} has no block convolution that a conv-placed module can replace "
                f"(its blocks are {block.__name__}; conv placement needs bottlenecks)"
            )
        if key not in accepted:
            raise AttnzooError(f"{name}: {key} does not apply to its {block.__name__} blocks")
    return options


def _stem(kind: str, in_chans: int, width: int, pre_activation: bool) -> list[nn.Module]:
    """``imagenet``: 7x7/2 conv-BN-ReLU and 3x3/2 max-pool; ``deep``, ``tiered``: three 3x3
    conv-BN-ReLU (the first strided) and the max-pool; ``cifar``: a 3x3 conv, with BN-ReLU unless
    the blocks are pre-activated (they normalise their input themselves)."""
    pool = nn.MaxPool2d(3, stride=2, padding=1)
    if kind == "imagenet":
        return [conv(in_chans, width, 7, 2), *bn_relu(width), pool]
    if kind in DEEP_STEMS:
        first, second = DEEP_STEMS[kind]
        return [
            conv(in_chans, first, 3, 2),
            *bn_relu(first),
            conv(first, second, 3),
            *bn_relu(second),
            conv(second, width, 3),
            *bn_relu(width),
            pool,
        ]
    return [conv(in_chans, width, 3)] + ([] if pre_activation else list(bn_relu(width)))
