"""Pascal VOC detection metrics: per-class AP at IoU 0.5, their mean, and recall, in %.

The devkit's procedure (``VOCevaldet.m``; MMDetection's ``eval_map`` with its legacy
coordinates, the BA2M paper's framework): per class, the detections of every image in
descending score order (ties kept in input order); each takes the ground-truth box of its class
in its image that it overlaps most; with IoU >= 0.5 it is a true positive if that box is not
difficult and not yet taken, ignored (neither true nor false positive) if the box is difficult,
and a false positive if the box was taken (a duplicate); below 0.5 it is a false positive.
Widths and heights are ``x2 - x1 + 1`` (inclusive pixels), the devkit's overlap on
:mod:`attnzoo.data.voc`'s coordinates. A class's positives are its non-difficult boxes.

- ``voc_map07``: mean AP over the classes with positives, AP the VOC2007 11-point
  interpolation: mean over recall r in {0, 0.1, ..., 1} of the highest precision at recall >= r
  (0 if none). The standard for VOC2007 test and MMDetection's default there (Tables III, IV).
- ``voc_map``: the same with AP the area under the precision envelope (all points, VOC2010 on).
- ``voc_recall``: the non-difficult boxes matched by a true positive over all non-difficult
  boxes, all classes together, with every detection the detector returns (torchvision's defaults:
  score >= 0.05, at most 100 per image).
- ``voc_class_recall``: the mean over classes of the same ratio (the mean of the per-class
  recall column that MMDetection's table prints).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

IOU = 0.5
# One image's detections: (image index, boxes (n, 4), labels (n,), scores (n,)).
Detections = tuple[int, np.ndarray, np.ndarray, np.ndarray]


class Truth(Protocol):
    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray


def overlaps(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of ``box`` (4,) with each of ``boxes`` (n, 4), sides counted as inclusive pixels."""
    iw = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]) + 1
    ih = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]) + 1
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    return inter / (area + areas - inter)


def match(truths: Sequence[Truth], detections: Sequence[Detections], label: int) -> np.ndarray:
    """The class's detections as 1 (true positive) or 0 (false positive), by descending score,
    the ones on difficult boxes left out."""
    found = [
        (score, image, box)
        for image, boxes, labels, scores in detections
        for box, score in zip(boxes[labels == label], scores[labels == label], strict=True)
    ]
    order = sorted(range(len(found)), key=lambda i: -found[i][0])  # stable: ties in input order
    taken = {}
    outcomes = []
    for i in order:
        _, image, box = found[i]
        truth = truths[image]
        mine = truth.labels == label
        if not mine.any():
            outcomes.append(0)
            continue
        iou = overlaps(box, truth.boxes[mine])
        best = int(np.argmax(iou))
        if iou[best] < IOU:
            outcomes.append(0)
        elif not truth.difficult[mine][best]:
            used = taken.setdefault(image, np.zeros(int(mine.sum()), bool))
            outcomes.append(0 if used[best] else 1)
            used[best] = True
    return np.array(outcomes, dtype=np.int64)


def ap_11point(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2007's AP: the mean over r in {0, 0.1, ..., 1} of max precision at recall >= r."""
    above = [precision[recall >= r] for r in np.arange(11) / 10]
    return float(np.mean([p.max() if len(p) else 0.0 for p in above]))


def ap_area(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2010's AP: the area under the precision envelope (precision made non-increasing)."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def voc_metrics(
    truths: Sequence[Truth], detections: Sequence[Detections], num_classes: int
) -> dict[str, float]:
    """``voc_map07``, ``voc_map``, ``voc_recall`` and ``voc_class_recall`` in % (module
    docstring) of ``detections`` against ``truths`` (one per image, by image index), classes
    labelled 1..``num_classes``."""
    ap07, ap, found, positives = [], [], [], []
    for label in range(1, num_classes + 1):
        count = sum(int(((t.labels == label) & ~t.difficult).sum()) for t in truths)
        if not count:
            continue
        outcomes = match(truths, detections, label)
        tp = np.cumsum(outcomes)
        recall = tp / count
        precision = tp / np.arange(1, len(outcomes) + 1)
        ap07.append(ap_11point(recall, precision))
        ap.append(ap_area(recall, precision))
        found.append(int(tp[-1]) if len(tp) else 0)
        positives.append(count)
    if not positives:
        return {"voc_map07": 0.0, "voc_map": 0.0, "voc_recall": 0.0, "voc_class_recall": 0.0}
    return {
        "voc_map07": 100 * float(np.mean(ap07)),
        "voc_map": 100 * float(np.mean(ap)),
        "voc_recall": 100 * sum(found) / sum(positives),
        "voc_class_recall": 100 * float(np.mean(np.array(found) / np.array(positives))),
    }
