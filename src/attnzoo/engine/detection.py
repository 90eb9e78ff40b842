"""The detection (Faster R-CNN, RetinaNet) and instance-segmentation (Mask R-CNN) tasks.

torchvision's detectors over an attnzoo backbone with its attention (:mod:`attnzoo.models.detector`)
on COCO-format data (:mod:`attnzoo.data.coco`) or Pascal VOC (:mod:`attnzoo.data.voc`, boxes
only), trained by the shared loop. The training loss is the sum of the detector's loss terms
(torchvision's, unweighted), each term also reported as a training statistic; RetinaNet's
classification loss is ``cls_loss`` (focal or softmax) and Faster/Mask R-CNN may train on hard RoIs
(``ohem``), :mod:`attnzoo.models.detection_heads`. Evaluation runs over the predictions of every
process. On COCO data it is COCO's: pycocotools' ``COCOeval``, box AP, AP50, AP75 and AP for small,
medium and large objects (and the same for masks), in %; the primary metric is ``box_ap``
(``mask_ap``). On VOC data it is the devkit's (:mod:`.voc_eval`): mAP at IoU 0.5, 11-point and
area, and recall, in %; the primary metric is ``voc_map07``, the 11-point mAP that VOC2007 test is
reported with (the data, not the task, decides: :meth:`Detection.primary`).

Backbone conventions are torchvision's (docs/detection.md): with ``pretrained``, stem and stage 1
frozen (``trainable_stages`` 3) and, with ``freeze_bn``, the loaded BatchNorm layers frozen
(statistics and affine parameters); from scratch, everything trains. MMDetection, the BA2M paper's
framework, freezes the same stages but keeps training the BatchNorm scales and shifts
(``norm_eval=True``, ``requires_grad=True``); its box losses are L1 where torchvision's are
smooth L1.

BA2M in the backbone scores the images of the padded batch that the detector's transform builds
(its softmax runs over the step's N images; ``sync: global`` over all processes' images). At test
time it follows its ``eval_mode``: ``identity`` (the default) returns its input, ``batch`` takes the
softmax over the evaluation batch, and a batch of one image is returned unchanged either way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..data import IMAGENET_MEAN, IMAGENET_STD
from ..data.coco import SPLITS, CocoDetection, DetectionLoader, find_coco
from ..data.voc import VocDetection, find_voc, is_voc
from ..models import create_model
from ..models.detector import build_detector, freeze_stages
from ..models.frozen_bn import freeze_pretrained_batchnorm
from ..models.pretrained import find_pretrained
from ..validation import AttnzooError
from .config import TrainConfig
from .data import source_preprocessing
from .distributed import World
from .task import Loader, Loaders, Task, register_task
from .voc_eval import voc_metrics

# COCOeval's first six statistics, in its order.
STATS = ("ap", "ap50", "ap75", "ap_s", "ap_m", "ap_l")


def _detections(output: dict[str, torch.Tensor], image_id: int, category_ids: list[int]) -> list:
    """One image's predictions as COCO result records (boxes x, y, w, h; RLE masks)."""
    boxes = output["boxes"].float().cpu()
    boxes[:, 2:] -= boxes[:, :2]
    records = [
        {"image_id": image_id, "category_id": category_ids[label - 1], "bbox": box, "score": score}
        for box, label, score in zip(
            boxes.tolist(), output["labels"].tolist(), output["scores"].tolist(), strict=True
        )
    ]
    if "masks" in output:
        from pycocotools import mask as mask_utils

        binary = (output["masks"][:, 0] > 0.5).cpu().numpy().astype(np.uint8)
        for record, mask in zip(records, binary, strict=True):
            record["segmentation"] = mask_utils.encode(np.asfortranarray(mask))
    return records


def coco_metrics(gt: Any, results: list[dict], image_ids: list[int], kind: str) -> dict:
    """COCOeval's AP, AP50, AP75, APs, APm, APl (in %) of ``results`` against ``gt`` for ``kind``
    (``bbox`` or ``segm``), named ``box_*``/``mask_*``; a size range without objects is left out."""
    from pycocotools.cocoeval import COCOeval

    prefix = {"bbox": "box", "segm": "mask"}[kind]
    if not results:
        return {f"{prefix}_{name}": 0.0 for name in STATS}
    with contextlib.redirect_stdout(io.StringIO()):  # COCOeval prints its progress and table
        evaluator = COCOeval(gt, gt.loadRes(results), kind)
        evaluator.params.imgIds = image_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats[: len(STATS)]
    return {f"{prefix}_{n}": 100 * float(v) for n, v in zip(STATS, stats, strict=True) if v >= 0}


def _voc_detections(output: dict[str, torch.Tensor], index: int) -> list:
    """One image's predictions as :mod:`.voc_eval` takes them."""
    boxes, scores = (output[k].float().cpu().numpy() for k in ("boxes", "scores"))
    return [(index, boxes, output["labels"].cpu().numpy(), scores)]


@torch.no_grad()
def _predictions(
    model: nn.Module, loader: Loader, world: World | None, record: Callable[[dict, int], list]
) -> list:
    """``record(output, image_id)`` of every image of ``loader``, gathered from every process."""
    model.eval()
    results: list = []
    loader.set_epoch(0)
    for images, targets in loader:
        for output, target in zip(model(images), targets, strict=True):
            results += record(output, int(target["image_id"]))
    if world is not None and world.size > 1:
        gathered: list[Any] = [None] * world.size
        dist.all_gather_object(gathered, results)
        results = [r for part in gathered for r in part]
    return results


def evaluate(model: nn.Module, loader: Loader, world: World | None, masks: bool) -> dict:
    """The metrics of ``model`` over ``loader``'s dataset: the VOC devkit's on VOC data, else
    COCO's box (and mask) metrics. Each process computes them from the predictions of all."""
    dataset = loader.dataset
    if isinstance(dataset, VocDetection):
        found = _predictions(model, loader, world, _voc_detections)
        return voc_metrics(dataset.objects, found, len(dataset.classes))
    ids = dataset.category_ids
    results = _predictions(model, loader, world, lambda out, i: _detections(out, i, ids))
    metrics = coco_metrics(dataset.coco, results, dataset.ids, "bbox")
    if masks:
        metrics |= coco_metrics(dataset.coco, results, dataset.ids, "segm")
    return metrics


def open_dataset(
    source: str, split: str, *, train: bool, masks: bool
) -> CocoDetection | VocDetection:
    """``split`` (train, test, or a split name of the data's own) of a VOC or COCO-format
    ``source``, as :class:`VocDetection` or :class:`CocoDetection`."""
    if is_voc(source):
        return VocDetection(find_voc(source, split), train=train)
    return CocoDetection(*find_coco(source, SPLITS.get(split, split)), train=train, masks=masks)


@register_task
class Detection(Task):
    """Boxes on COCO-format or VOC data: Faster R-CNN (default) or RetinaNet (``detector``)."""

    name = "detection"
    primary_metric = "box_ap"
    higher_is_better = True
    masks = False

    def detector(self, config: TrainConfig) -> str:
        return config.detector

    def primary(self, config: TrainConfig) -> str:
        """``voc_map07`` on VOC data (VOC2007 test's standard 11-point mAP), else COCO's AP."""
        return "voc_map07" if is_voc(config.data) else self.primary_metric

    def check(self, config: TrainConfig) -> None:
        def need(ok: bool, key: str, what: str) -> None:
            if not ok:
                raise AttnzooError(f"config: {key}={getattr(config, key)!r} {what}")

        need(
            config.detector in ("faster_rcnn", "retinanet"),
            "detector",
            "must be faster_rcnn or retinanet",
        )
        need(config.min_size >= 32, "min_size", "must be at least 32")
        need(config.max_size >= config.min_size, "max_size", "must be at least min_size")
        need(
            all(32 <= size <= config.max_size for size in config.train_sizes),
            "train_sizes",
            "must each be in [32, max_size]",
        )
        need(
            config.aspect_ratio_group_factor >= -1,
            "aspect_ratio_group_factor",
            "must be -1 (no grouping) or more",
        )
        need(config.fpn_channels >= 1, "fpn_channels", "must be positive")
        retinanet = self.detector(config) == "retinanet"
        need(
            config.cls_loss == "focal" or retinanet,
            "cls_loss",
            "is RetinaNet's classification loss: set detector: retinanet, or leave it at focal",
        )
        need(
            not config.ohem or not retinanet,
            "ohem",
            "mines the RoIs of Faster/Mask R-CNN, which RetinaNet has none of: leave it false",
        )
        need(
            config.loss == "ce",
            "loss",
            "re-weights classification losses; detection's options are cls_loss and ohem",
        )
        need(
            config.trainable_stages is None or config.trainable_stages >= 0,
            "trainable_stages",
            "must be non-negative",
        )
        if self.masks and is_voc(config.data):
            raise AttnzooError(
                f"config: data={config.data!r} is Pascal VOC, which has no instance masks: "
                f"{self.name} needs COCO-format data"
            )
        if config.pretrained:
            find_pretrained(config.pretrained)

    def build_loaders(self, config: TrainConfig, world: World) -> Loaders:
        # The test split first: it is the smaller, so a missing one is found sooner.
        test_set = open_dataset(config.data, "test", train=False, masks=False)
        train_set = open_dataset(config.data, "train", train=True, masks=self.masks)
        if train_set.classes != test_set.classes:
            raise AttnzooError(f"{config.data}: the training and test splits' categories differ")
        shard = {
            "rank": world.rank,
            "world_size": world.size,
            "device": world.device,
            "num_workers": config.workers,
        }
        factor = config.aspect_ratio_group_factor
        train = DetectionLoader(
            train_set,
            config.batch_size,
            shuffle=True,
            drop_last=True,
            flip=True,
            seed=config.seed,
            group_factor=None if factor < 0 else factor,
            train_sizes=config.train_sizes,
            **shard,
        )
        test = DetectionLoader(
            test_set, config.eval_batch_size, shuffle=False, drop_last=False, flip=False, **shard
        )
        source = source_preprocessing(config)
        info = {
            "train_images": len(train_set),
            "test_images": len(test_set),
            "classes": train_set.classes,
            "category_ids": train_set.category_ids,
            "in_chans": 3,
            "mean": list(source["mean"]) if source else list(IMAGENET_MEAN),
            "std": list(source["std"]) if source else list(IMAGENET_STD),
        }
        return Loaders(train, test, info)

    def build_model(self, config: TrainConfig, info: dict[str, Any]) -> nn.Module:
        net = create_model(
            config.model,
            1,
            in_chans=info["in_chans"],
            attention=config.attention_spec(),
            model_options=config.model_options,
            pretrained=config.pretrained or False,
            pretrained_strict=config.pretrained_strict,
        )
        report = getattr(net, "pretrained_report", None)
        if config.freeze_bn:
            freeze_pretrained_batchnorm(net)
        trainable = config.trainable_stages
        if trainable is None:
            trainable = 3 if config.pretrained else len(net.stages) + 1
        freeze_stages(net, trainable)
        model = build_detector(
            self.detector(config),
            net,
            len(info["classes"]),
            min_size=config.min_size,
            max_size=config.max_size,
            fpn_channels=config.fpn_channels,
            mean=info["mean"],
            std=info["std"],
            cls_loss=config.cls_loss,
            ohem=config.ohem,
        )
        if report is not None:  # pretrained_lr_scale finds the loaded tensors by these names
            loaded = tuple(f"backbone.body.{n}" for n in report.loaded)
            model.pretrained_report = dataclasses.replace(report, loaded=loaded)
        return model

    def forward(self, model: nn.Module, batch: Any) -> Any:
        images, targets = batch
        return model(images, targets)

    def loss(
        self, output: dict[str, torch.Tensor], batch: Any, config: TrainConfig
    ) -> tuple[torch.Tensor, int, dict[str, float]]:
        count = len(batch[0])
        stats = {name: float(value.detach()) * count for name, value in output.items()}
        return sum(output.values()), count, stats

    def evaluate(self, model: nn.Module, loader: Loader, world: World | None) -> dict[str, float]:
        return evaluate(model, loader, world, self.masks)

    def eval_loader(
        self,
        config: TrainConfig,
        info: dict[str, Any],
        *,
        source: str,
        split: str,
        per_class: int | None,
        batch_size: int,
        download: bool,
    ) -> tuple[Loader, int]:
        """The images of ``split`` of ``source``: ``test`` (COCO: val2017; VOC: VOC2007 test),
        ``train``, a COCO split name or a VOC ``VOC{year}/{set}``."""
        if per_class is not None:
            raise AttnzooError("detection data has no per-class limit; leave per_class unset")
        dataset = open_dataset(source, split, train=False, masks=False)
        if dataset.classes != info["classes"]:
            raise AttnzooError(f"{source}'s categories differ from the checkpoint's")
        loader = DetectionLoader(dataset, batch_size, shuffle=False, drop_last=False, flip=False)
        return loader, len(dataset)


@register_task
class InstanceSegmentation(Detection):
    """Boxes and masks on COCO-format data: Mask R-CNN."""

    name = "instance-segmentation"
    primary_metric = "mask_ap"
    masks = True

    def detector(self, config: TrainConfig) -> str:
        return "mask_rcnn"

    def check(self, config: TrainConfig) -> None:
        if config.detector != "faster_rcnn":
            raise AttnzooError(
                f"config: detector={config.detector!r}: instance-segmentation is Mask R-CNN "
                "(Faster R-CNN with a mask head); leave detector at faster_rcnn"
            )
        super().check(config)
