"""Loss options of torchvision's detector heads: softmax RetinaNet and OHEM for Faster/Mask R-CNN.

The BA2M paper (section IV-C, Tables III and IV) compares BA2M with the focal loss (RetinaNet) and
with online hard example mining (Faster R-CNN). Both are small subclasses of torchvision's heads:

- :class:`SoftmaxClassificationHead`: RetinaNet's classification loss as softmax cross-entropy
  over background and the classes instead of the sigmoid focal loss (Lin et al., ICCV 2017,
  "Focal loss for dense object detection"). Anchors are matched as torchvision's RetinaNet does
  (the paper's rule): IoU >= 0.5 foreground, < 0.4 background, in between ignored (no loss);
  each image's summed loss is divided by its number of foreground anchors (at least 1), and the
  images' losses are averaged: the focal loss's normalisation. Deviation: MMDetection, the BA2M
  paper's framework, divides a cross-entropy anchor loss by the number of foreground and
  background anchors instead (its ``sampling`` is on for any loss but the focal-type ones).
- :class:`HardExampleRoIHeads`: online hard example mining (Shrivastava et al., CVPR 2016): every
  proposal (and ground-truth box) is scored by its loss, classification plus box regression, in
  a forward pass without gradients; NMS at IoU 0.7 over the RoIs ranked by loss drops
  near-duplicates; the hardest ``batch_size_per_image`` per image are kept and the loss and its
  gradient are computed over those alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.retinanet import RetinaNetClassificationHead
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import nms

CLS_LOSSES = ("focal", "softmax")


class SoftmaxClassificationHead(RetinaNetClassificationHead):
    """RetinaNet's classification subnet trained with softmax cross-entropy.

    ``num_classes`` counts the background, logit 0 (torchvision's convention: attnzoo's sigmoid
    head has the same K + 1 logits, the background one always a negative). At initialisation the
    anchors' foreground probability is ``prior_probability`` spread over the K classes (the focal
    loss paper's prior, for a softmax): background bias 0, each class log(pi / (K (1 - pi))).
    Without it the ~10^5 background anchors start at -log(1 / (K + 1)) each and swamp training.
    """

    def __init__(
        self, in_channels: int, num_anchors: int, num_classes: int, prior_probability: float = 0.01
    ) -> None:
        super().__init__(in_channels, num_anchors, num_classes, prior_probability)
        bias = self.cls_logits.bias.detach().view(num_anchors, num_classes)
        objects = num_classes - 1
        bias[:, 0] = 0.0
        bias[:, 1:] = math.log(prior_probability / (objects * (1 - prior_probability)))

    def compute_loss(
        self,
        targets: list[dict[str, torch.Tensor]],
        head_outputs: dict[str, torch.Tensor],
        matched_idxs: list[torch.Tensor],
    ) -> torch.Tensor:
        """Mean over images of the summed cross-entropy of the non-ignored anchors (matched
        index >= 0: the matched box's class; -1: background; -2, between thresholds: no loss)
        over the image's foreground anchor count."""
        losses = []
        for target, logits, matched in zip(
            targets, head_outputs["cls_logits"], matched_idxs, strict=True
        ):
            foreground = matched >= 0
            classes = torch.zeros_like(matched)
            classes[foreground] = target["labels"][matched[foreground]]
            valid = matched != self.BETWEEN_THRESHOLDS
            loss = F.cross_entropy(logits[valid], classes[valid], reduction="sum")
            losses.append(loss / foreground.sum().clamp(min=1))
        return torch.stack(losses).mean()


def detection_logits(logits: torch.Tensor, softmax: bool) -> torch.Tensor:
    """Logits whose sigmoid is each object class's score (what torchvision's RetinaNet
    postprocessing reads): the softmax probabilities' logits for a softmax head, the logits
    themselves for a sigmoid one; the background column (0) at -inf, never a detection."""
    out = torch.logit(logits.float().softmax(-1)) if softmax else logits.clone()
    out[..., 0] = -math.inf
    return out


class RetinaNetDetector(RetinaNet):
    """torchvision's RetinaNet whose detections are scored by :func:`detection_logits`.

    Deviation: torchvision's RetinaNet may return the background class 0 as a detection (its
    sigmoid score is trained down, so rarely above the 0.05 threshold); here it never does."""

    def postprocess_detections(
        self,
        head_outputs: dict[str, list[torch.Tensor]],
        anchors: list[list[torch.Tensor]],
        image_shapes: list[tuple[int, int]],
    ) -> list[dict[str, torch.Tensor]]:
        softmax = isinstance(self.head.classification_head, SoftmaxClassificationHead)
        logits = [detection_logits(x, softmax) for x in head_outputs["cls_logits"]]
        outputs = {**head_outputs, "cls_logits": logits}
        return super().postprocess_detections(outputs, anchors, image_shapes)


def roi_losses(
    class_logits: torch.Tensor,
    box_regression: torch.Tensor,
    labels: torch.Tensor,
    regression_targets: torch.Tensor,
) -> torch.Tensor:
    """Each RoI's Fast R-CNN loss, the terms of torchvision's ``fastrcnn_loss`` before their
    mean: cross-entropy plus, for a foreground RoI, the smooth L1 (beta 1/9) of its class's box."""
    loss = F.cross_entropy(class_logits, labels, reduction="none")
    boxes = box_regression.reshape(len(labels), -1, 4)
    foreground = torch.where(labels > 0)[0]
    box = F.smooth_l1_loss(
        boxes[foreground, labels[foreground]],
        regression_targets[foreground],
        beta=1 / 9,
        reduction="none",
    )
    return loss.index_add(0, foreground, box.sum(1).to(loss.dtype))


def hardest(boxes: torch.Tensor, losses: torch.Tensor, count: int, iou: float) -> torch.Tensor:
    """Indices of the ``count`` highest-loss RoIs, hardest first, after NMS at ``iou`` over the
    RoIs ranked by loss (OHEM's deduplication; ``iou`` 1 keeps every RoI)."""
    return nms(boxes.float(), losses.float(), iou)[:count]


class HardExampleRoIHeads(RoIHeads):
    """torchvision's RoIHeads training on the hardest RoIs by loss instead of a random sample.

    The random 1:3 foreground/background sampler (``subsample``) is replaced by keeping every
    assigned RoI; :meth:`select_training_samples` then scores them all in a forward pass of the
    box head without gradients and keeps, per image, the ``batch_size_per_image`` hardest after
    NMS at ``nms_threshold`` (:func:`hardest`). Everything after (the loss over the kept RoIs, the
    mask head's positives among them) is torchvision's. Turn a built ``RoIHeads`` into one with
    :func:`mine_hard_examples`.
    """

    nms_threshold: float = 0.7  # Shrivastava et al.'s

    def forward(
        self,
        features: dict[str, torch.Tensor],
        proposals: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, torch.Tensor]] | None = None,
    ) -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
        # select_training_samples (called by torchvision's forward) scores the RoIs on these.
        self._inputs = (features, image_shapes)
        try:
            return super().forward(features, proposals, image_shapes, targets)
        finally:
            self._inputs = None

    def subsample(self, labels: list[torch.Tensor]) -> list[torch.Tensor]:
        """Every RoI but the ignored ones (label -1, none with torchvision's 0.5/0.5 matcher)."""
        return [torch.where(image >= 0)[0] for image in labels]

    def select_training_samples(
        self, proposals: list[torch.Tensor], targets: list[dict[str, torch.Tensor]] | None
    ) -> tuple[list[torch.Tensor], ...]:
        parts = super().select_training_samples(proposals, targets)
        rois, _, labels, regression_targets = parts
        losses = self.roi_losses(rois, labels, regression_targets)
        count = self.fg_bg_sampler.batch_size_per_image
        keep = [
            hardest(boxes, loss, count, self.nms_threshold)
            for boxes, loss in zip(rois, losses, strict=True)
        ]
        return tuple([x[k] for x, k in zip(part, keep, strict=True)] for part in parts)

    @torch.no_grad()
    def roi_losses(
        self,
        rois: list[torch.Tensor],
        labels: list[torch.Tensor],
        regression_targets: list[torch.Tensor],
    ) -> list[torch.Tensor]:
        """Each image's RoIs' losses (:func:`roi_losses`) from the read-only forward pass."""
        features, image_shapes = self._inputs
        pooled = self.box_head(self.box_roi_pool(features, rois, image_shapes))
        class_logits, box_regression = self.box_predictor(pooled)
        losses = roi_losses(
            class_logits, box_regression, torch.cat(labels), torch.cat(regression_targets)
        )
        return list(losses.split([len(r) for r in rois]))


def mine_hard_examples(heads: RoIHeads) -> HardExampleRoIHeads:
    """``heads`` (as a Faster/Mask R-CNN built it, with its modules and settings) made to train
    on hard examples: its class is changed in place, so torchvision's defaults are not repeated."""
    heads.__class__ = HardExampleRoIHeads
    return heads
