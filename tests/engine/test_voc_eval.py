"""The VOC metrics against hand-computed cases and an independent reference written here."""

from types import SimpleNamespace

import numpy as np
import pytest

from attnzoo.engine.voc_eval import voc_metrics


def truth(boxes, labels, difficult=None):
    n = len(labels)
    return SimpleNamespace(
        boxes=np.array(boxes, dtype=np.float32).reshape(n, 4),
        labels=np.array(labels, dtype=np.int64),
        difficult=np.array(difficult or [False] * n, dtype=bool),
    )


def dets(image, rows):
    """Detections of one image from (label, score, x1, y1, x2, y2) rows."""
    rows = np.array(rows, dtype=np.float32).reshape(-1, 6)
    return image, rows[:, 2:], rows[:, 0].astype(np.int64), rows[:, 1]


def test_duplicates_difficult_and_misses_give_the_hand_computed_aps():
    truths = [
        truth([[0, 0, 9, 9], [20, 20, 29, 29]], [1, 1], [False, True]),
        truth([[0, 0, 19, 19], [40, 40, 49, 49]], [1, 1]),
    ]
    detections = [  # input order is not score order
        dets(1, [[1, 0.5, 100, 100, 110, 110], [1, 0.6, 0, 0, 19, 19]]),
        dets(0, [[1, 0.7, 20, 20, 29, 29], [1, 0.9, 0, 0, 9, 9], [1, 0.8, 0, 0, 9, 9]]),
    ]
    # By score: TP (0.9), FP duplicate (0.8), ignored on the difficult box (0.7), TP (0.6),
    # FP (0.5); 3 positives. Precision 1, 1/2, 2/3, 1/2 at recall 1/3, 1/3, 2/3, 2/3.
    # 11-point: recall >= 0, .1, .2, .3 -> 1; >= .4, .5, .6 -> 2/3; >= .7 .. 1 -> 0: 6/11.
    # Area: 1/3 * 1 + 1/3 * 2/3 = 5/9.
    metrics = voc_metrics(truths, detections, 20)
    assert metrics["voc_map07"] == pytest.approx(100 * 6 / 11)
    assert metrics["voc_map"] == pytest.approx(100 * 5 / 9)
    assert metrics["voc_recall"] == pytest.approx(100 * 2 / 3)


def test_overlap_counts_inclusive_pixels_as_the_devkit():
    truths = [truth([[0, 0, 9, 9]], [1])]  # 10 x 10 pixels
    half = voc_metrics(truths, [dets(0, [[1, 0.9, 0, 0, 9, 4]])], 1)  # 50 / 100 = 0.5: TP
    assert half["voc_map07"] == pytest.approx(100) and half["voc_recall"] == pytest.approx(100)
    less = voc_metrics(truths, [dets(0, [[1, 0.9, 0, 0, 9, 3]])], 1)  # 40 / 100: FP
    assert less["voc_map07"] == 0 and less["voc_map"] == 0 and less["voc_recall"] == 0


def test_a_detection_takes_its_best_box_even_when_taken():
    # The second detection overlaps the taken box p most (0.91) and q enough (0.75): still FP.
    truths = [truth([[0, 0, 9, 9], [0, 2, 9, 11]], [1, 1])]
    found = [dets(0, [[1, 0.9, 0, 0, 9, 9], [1, 0.8, 0, 0, 9, 10]])]
    metrics = voc_metrics(truths, found, 1)
    assert metrics["voc_map07"] == pytest.approx(100 * 6 / 11)
    assert metrics["voc_map"] == pytest.approx(50)


def test_the_mean_is_over_classes_with_positives_and_recall_over_boxes():
    truths = [truth([[0, 0, 9, 9], [30, 30, 39, 39], [50, 50, 59, 59]], [1, 3, 3])]
    found = [dets(0, [[1, 0.9, 0, 0, 9, 9], [2, 0.8, 30, 30, 39, 39]])]  # class 2: no boxes
    metrics = voc_metrics(truths, found, 3)
    assert metrics["voc_map07"] == pytest.approx(50) and metrics["voc_map"] == pytest.approx(50)
    assert metrics["voc_recall"] == pytest.approx(100 / 3)  # 1 of 3 boxes
    assert metrics["voc_class_recall"] == pytest.approx(50)  # (1 + 0) / 2 classes


def reference_ap(truths, detections, label):
    """The devkit's procedure in plain Python, AP by another route: 11-point from each threshold's
    best precision; area as the mean over positives of the best precision from the rank at
    which each is found (unfound ones count 0)."""
    flat = [
        (float(s), i, [float(v) for v in b])
        for i, boxes, labels, scores in detections
        for b, lab, s in zip(boxes, labels, scores, strict=True)
        if lab == label
    ]
    flat.sort(key=lambda d: -d[0])
    used, outcomes = set(), []
    for _, i, b in flat:
        best, best_j = -1.0, None
        for j, (g, lab) in enumerate(zip(truths[i].boxes, truths[i].labels, strict=True)):
            if lab != label:
                continue
            w = min(b[2], g[2]) - max(b[0], g[0]) + 1
            h = min(b[3], g[3]) - max(b[1], g[1]) + 1
            inter = max(w, 0) * max(h, 0)
            union = (b[2] - b[0] + 1) * (b[3] - b[1] + 1) + (g[2] - g[0] + 1) * (g[3] - g[1] + 1)
            if inter / (union - inter) > best:
                best, best_j = inter / (union - inter), j
        if best < 0.5:
            outcomes.append(False)
        elif not truths[i].difficult[best_j]:
            outcomes.append((i, best_j) not in used)
            used.add((i, best_j))
    npos = sum(
        int(lab == label and not d)
        for t in truths
        for lab, d in zip(t.labels, t.difficult, strict=True)
    )
    precision, recall, tp = [], [], 0
    for k, hit in enumerate(outcomes):
        tp += hit
        precision.append(tp / (k + 1))
        recall.append(tp / npos)
    best_from = [max(precision[k:]) for k in range(len(precision))]
    area = sum(best_from[k] for k, hit in enumerate(outcomes) if hit) / npos
    points = [
        max([p for p, r in zip(precision, recall, strict=True) if r >= t / 10], default=0)
        for t in range(11)
    ]
    return sum(points) / 11, area, tp, npos


@pytest.mark.parametrize("seed", range(5))
def test_random_scenes_match_the_reference(seed):
    rng = np.random.default_rng(seed)
    truths, detections = [], []
    for image in range(6):
        n = int(rng.integers(0, 5))
        corners = rng.integers(0, 40, (n, 2))
        boxes = np.concatenate([corners, corners + rng.integers(10, 30, (n, 2))], axis=1)
        truths.append(truth(boxes, rng.integers(1, 4, n).tolist(), (rng.random(n) < 0.2).tolist()))
        rows = []
        for box, label in zip(boxes, truths[-1].labels, strict=True):  # near-hits, duplicates
            for _ in range(int(rng.integers(0, 3))):
                rows.append([label, rng.random(), *(box + rng.integers(-4, 5, 4))])
        for _ in range(int(rng.integers(0, 4))):  # stray boxes
            x, y = rng.integers(0, 60, 2)
            rows.append([rng.integers(1, 4), rng.random(), x, y, x + 10, y + 10])
        detections.append(dets(image, rows))
    metrics = voc_metrics(truths, detections, 3)
    refs = [reference_ap(truths, detections, c) for c in (1, 2, 3)]
    refs = [r for r in refs if r[3]]
    assert metrics["voc_map07"] == pytest.approx(100 * np.mean([r[0] for r in refs]))
    assert metrics["voc_map"] == pytest.approx(100 * np.mean([r[1] for r in refs]))
    assert metrics["voc_recall"] == pytest.approx(
        100 * sum(r[2] for r in refs) / sum(r[3] for r in refs)
    )
