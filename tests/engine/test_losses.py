"""Focal loss and OHEM against formulas written out in float64."""

import math

import pytest
import torch

from attnzoo.engine.losses import classification_loss


def batch(n=9, classes=5):
    torch.manual_seed(0)
    return torch.randn(n, classes, dtype=torch.float64), torch.randint(0, classes, (n,))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal_loss_formula(gamma):
    logits, labels = batch()
    expected = 0.0
    for row, label in zip(logits.tolist(), labels.tolist(), strict=True):
        p = math.exp(row[label]) / sum(math.exp(v) for v in row)
        expected += -((1 - p) ** gamma) * math.log(p)
    got = classification_loss(logits, labels, kind="focal", focal_gamma=gamma)
    assert got.item() == pytest.approx(expected / len(labels), rel=1e-12)
    if gamma == 0:
        assert got.item() == pytest.approx(classification_loss(logits, labels).item(), rel=1e-12)


def test_ohem_trains_on_the_hardest_samples_only():
    logits, labels = batch()
    logits.requires_grad_()
    per_sample = [
        -row[label] + math.log(sum(math.exp(v) for v in row))
        for row, label in zip(logits.tolist(), labels.tolist(), strict=True)
    ]
    keep = math.ceil(0.4 * len(per_sample))  # 4 of 9
    hardest = sorted(range(len(per_sample)), key=per_sample.__getitem__)[-keep:]
    loss = classification_loss(logits, labels, kind="ohem", ohem_fraction=0.4)
    assert loss.item() == pytest.approx(sum(per_sample[i] for i in hardest) / keep, rel=1e-12)
    loss.backward()
    has_gradient = {i for i in range(len(per_sample)) if logits.grad[i].abs().sum() > 0}
    assert has_gradient == set(hardest)


def test_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        classification_loss(*batch(), kind="hinge")
