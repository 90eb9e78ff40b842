"""torchvision's detectors (Faster R-CNN, RetinaNet, Mask R-CNN) over any attnzoo backbone.

:class:`BackboneFPN` is torchvision's ``BackboneWithFPN`` for an attnzoo network: the maps of its
last stages (``model.features``, sizes from ``feature_info``) through a
``FeaturePyramidNetwork``, with ``out_channels`` as torchvision's heads expect. The attention
modules sit wherever the backbone's placement put them; the backbone sees the padded batch that
the detector's transform builds, so BA2M's softmax runs over the (N, C, H, W) batch of the
detection step (padding included in its pooled statistics).

Trainable stages follow torchvision's ``trainable_backbone_layers``: counted from the top among
the stages and the stem (5 for a ResNet: all; 3: stem and stage 1 frozen, torchvision's default
with pretrained weights, which is also MMDetection's ``frozen_stages=1``; 0: the FPN and heads
alone). Deviation: the attention modules inside a frozen stage keep training (they are new, not
pretrained); MMDetection would freeze a plugin inside a frozen stage with it.

Multi-scale training (:class:`DrawnSizeTransform`): the shorter side of each training image is
the size its target carries under ``TRAIN_SIZE``, drawn by the loader from (seed, epoch, batch),
rather than torchvision's draw from ``min_size`` with torch's global RNG (which each process
advances differently: RPN and RoI sampling use it too), so that it is the same on resume and
for any number of processes.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7

from ..attention.base import AttentionModule
from ..validation import AttnzooError
from .detection_heads import (
    CLS_LOSSES,
    RetinaNetDetector,
    SoftmaxClassificationHead,
    mine_hard_examples,
)

DETECTORS = ("faster_rcnn", "retinanet", "mask_rcnn")
TRAIN_SIZE = "train_size"  # a training target's key: the shorter side to resize its image to


class DrawnSizeTransform(GeneralizedRCNNTransform):
    """torchvision's detection transform, except that a training image whose target carries
    ``TRAIN_SIZE`` gets that shorter side (the longer still at most ``max_size``); without it,
    torchvision's behaviour, global RNG draws included. Evaluation resizes to ``min_size``."""

    _drawn: int | None = None

    def resize(
        self, image: torch.Tensor, target: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        # forward() resizes a copy of each target dict: popping the key leaves the caller's.
        size = None if target is None else target.pop(TRAIN_SIZE, None)
        self._drawn = None if size is None else int(size)
        return super().resize(image, target)

    def torch_choice(self, k: list[int]) -> int:
        return super().torch_choice(k) if self._drawn is None else self._drawn


class BackboneFPN(nn.Module):
    """The last ``levels`` stage maps of ``net`` through an FPN of ``out_channels`` channels."""

    def __init__(self, net: nn.Module, levels: int, out_channels: int, retinanet: bool) -> None:
        super().__init__()
        info = net.feature_info
        if len(info) < levels:
            raise AttnzooError(f"{net.name} has {len(info)} stages; the detector needs {levels}")
        net.reset_classifier(0)  # the classifier is unused: DDP would find it without gradients
        self.body, self.stages = net, list(range(len(info) - levels, len(info)))
        extra = LastLevelP6P7(out_channels, out_channels) if retinanet else LastLevelMaxPool()
        channels = [info[i]["num_chs"] for i in self.stages]
        self.fpn = FeaturePyramidNetwork(channels, out_channels, extra_blocks=extra)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        maps = self.body.features(x)
        return self.fpn(OrderedDict((str(i), maps[s]) for i, s in enumerate(self.stages)))


def freeze_stages(net: nn.Module, trainable: int) -> list[str]:
    """Stop training all but the top ``trainable`` of [stem, stage 1, ..., stage S] (attention
    modules excepted, see the module docstring); return the frozen parameters' names."""
    parts = ["stem", *(f"stages.{i}" for i in range(len(net.stages)))]
    if not 0 <= trainable <= len(parts):
        raise AttnzooError(
            f"trainable_stages={trainable} must be in [0, {len(parts)}] for {net.name}"
        )
    frozen_parts = parts[: len(parts) - trainable]
    keep = {
        f"{name}.{p}" if name else p
        for name, m in net.named_modules()
        if isinstance(m, AttentionModule)
        for p, _ in m.named_parameters()
    }
    frozen = []
    for name, param in net.named_parameters():
        if any(name.startswith(f"{part}.") for part in frozen_parts) and name not in keep:
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


def build_detector(
    kind: str,
    net: nn.Module,
    num_classes: int,
    *,
    min_size: int,
    max_size: int,
    fpn_channels: int,
    mean: list[float],
    std: list[float],
    cls_loss: str = "focal",
    ohem: bool = False,
) -> nn.Module:
    """Detector ``kind`` (one of DETECTORS) for ``num_classes`` object classes (background
    added) on backbone ``net``, with torchvision's defaults for everything else: anchors of 32 px
    at the finest level doubling per level, RoIAlign 7x7 (14x14 for masks). RetinaNet's
    classification loss is ``cls_loss`` (CLS_LOSSES); ``ohem`` trains a Faster/Mask R-CNN box
    head on hard examples (:mod:`attnzoo.models.detection_heads`)."""
    if kind not in DETECTORS:
        raise AttnzooError(f"detector={kind!r} is unknown; valid: {', '.join(DETECTORS)}")
    if cls_loss not in CLS_LOSSES or (cls_loss != "focal" and kind != "retinanet"):
        raise AttnzooError(f"cls_loss={cls_loss!r}: RetinaNet's {' or '.join(CLS_LOSSES)}")
    if ohem and kind == "retinanet":
        raise AttnzooError("ohem mines the RoIs of Faster/Mask R-CNN; RetinaNet has none")
    common = {"min_size": min_size, "max_size": max_size}
    model = _detector(kind, net, num_classes, fpn_channels, cls_loss, ohem, common)
    model.transform = DrawnSizeTransform(min_size, max_size, mean, std)
    return model


def _detector(
    kind: str,
    net: nn.Module,
    num_classes: int,
    fpn_channels: int,
    cls_loss: str,
    ohem: bool,
    common: dict,
) -> nn.Module:
    if kind == "retinanet":
        return _retinanet(net, num_classes + 1, fpn_channels, cls_loss, common)
    backbone = BackboneFPN(net, min(4, len(net.feature_info)), fpn_channels, retinanet=False)
    names = [str(i) for i in range(len(backbone.stages))]
    levels = len(names) + 1  # the max-pooled extra level has anchors too
    anchors = AnchorGenerator(
        tuple((32 * 2**i,) for i in range(levels)), ((0.5, 1.0, 2.0),) * levels
    )
    boxes = MultiScaleRoIAlign(names, output_size=7, sampling_ratio=2)
    if kind == "faster_rcnn":
        model = FasterRCNN(
            backbone, num_classes + 1, rpn_anchor_generator=anchors, box_roi_pool=boxes, **common
        )
    else:
        masks = MultiScaleRoIAlign(names, output_size=14, sampling_ratio=2)
        model = MaskRCNN(
            backbone,
            num_classes + 1,
            rpn_anchor_generator=anchors,
            box_roi_pool=boxes,
            mask_roi_pool=masks,
            **common,
        )
    if ohem:
        mine_hard_examples(model.roi_heads)
    return model


def _retinanet(
    net: nn.Module, num_classes: int, fpn_channels: int, cls_loss: str, common: dict
) -> RetinaNetDetector:
    """RetinaNet for ``num_classes`` logits (background included): anchors of 3 scales per
    octave and 3 ratios, 32 px at P3; ``cls_loss`` softmax swaps in the softmax classifier."""
    backbone = BackboneFPN(net, 3, fpn_channels, retinanet=True)
    sizes = [(s, round(s * 2 ** (1 / 3)), round(s * 2 ** (2 / 3))) for s in (32, 64, 128, 256, 512)]
    anchors = AnchorGenerator(tuple(sizes), ((0.5, 1.0, 2.0),) * len(sizes))
    per_location = anchors.num_anchors_per_location()[0]
    head = RetinaNetHead(fpn_channels, per_location, num_classes)
    if cls_loss == "softmax":
        head.classification_head = SoftmaxClassificationHead(
            fpn_channels, per_location, num_classes
        )
    return RetinaNetDetector(backbone, num_classes, anchor_generator=anchors, head=head, **common)
