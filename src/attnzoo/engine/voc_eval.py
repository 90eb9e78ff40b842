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


def overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU (n, m) of boxes ``a`` (n, 4) and ``b`` (m, 4), sides counted as inclusive pixels."""
    a, b = a[:, None], b[None]
    iw = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1
    ih = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    return inter / (area_a + area_b - inter)


def _image_outcomes(
    truth: Truth, boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's detections by descending score: their labels, scores and outcomes (1 true,
    0 false positive), those on difficult boxes left out. Images do not interact: each image's
    share of a class's ranking is matched on its own."""
    order = np.argsort(-scores, kind="stable")
    boxes, labels, scores = boxes[order], labels[order], scores[order]
    outcomes, keep = np.zeros(len(scores), np.int64), np.ones(len(scores), bool)
    if len(truth.labels) and len(scores):
        iou = overlaps(boxes, truth.boxes)
        iou[labels[:, None] != truth.labels[None]] = -1  # a detection meets its class's boxes
        best, taken = iou.argmax(1), np.zeros(len(truth.labels), bool)
        for k in np.nonzero(iou.max(1) >= IOU)[0]:
            j = best[k]
            keep[k] = not truth.difficult[j]
            outcomes[k] = keep[k] and not taken[j]
            taken[j] |= keep[k]
    return labels[keep], scores[keep], outcomes[keep]


def match(truths: Sequence[Truth], detections: Sequence[Detections]) -> dict[int, np.ndarray]:
    """For each class detected, its detections' outcomes (1 true, 0 false positive) in
    descending score order (ties in input order), those on difficult boxes left out."""
    found = [_image_outcomes(truths[image], *rest) for image, *rest in detections]
    if not found:
        return {}
    labels, scores, outcomes = (np.concatenate(x) for x in zip(*found, strict=True))
    order = np.argsort(-scores, kind="stable")
    labels, outcomes = labels[order], outcomes[order]
    return {label: outcomes[labels == label] for label in np.unique(labels).tolist()}


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
    labels = np.concatenate([t.labels[~t.difficult] for t in truths] or [np.zeros(0, np.int64)])
    ranked = match(truths, detections)
    for label in range(1, num_classes + 1):
        count = int((labels == label).sum())
        if not count:
            continue
        outcomes = ranked.get(label, np.zeros(0, np.int64))
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
