"""The detectors' loss options: RetinaNet's softmax cross-entropy and Faster R-CNN's OHEM, each
against a reference written here, a few training steps of each, and the misuses refused."""

import math

import pytest
import torch
from torchvision.ops import box_iou

pytest.importorskip("pycocotools")

from tests.fixtures import TINY_DETECTOR

from attnzoo.data.pasted import build_pasted_coco
from attnzoo.engine import TrainConfig
from attnzoo.engine.distributed import World
from attnzoo.engine.task import check_config, get_task
from attnzoo.models.detection_heads import SoftmaxClassificationHead, detection_logits

INFO = {"classes": ["a", "b", "c"], "in_chans": 3, "mean": [0.5] * 3, "std": [0.25] * 3}


def tiny(**values) -> TrainConfig:
    return TrainConfig.from_dict({**TINY_DETECTOR, **values})


def reference_softmax_loss(logits, matched, labels) -> float:
    """Per image: the sum over non-ignored anchors of -log softmax(target), the target the matched
    box's class (matched >= 0) or background 0 (matched -1), anchors at -2 ignored, over the
    number of foreground anchors (at least one); then the mean over images."""
    per_image = []
    for rows, matches, classes in zip(logits.tolist(), matched.tolist(), labels, strict=True):
        total, foreground = 0.0, 0
        for row, match in zip(rows, matches, strict=True):
            if match == -2:
                continue
            target = 0 if match == -1 else classes[match]
            foreground += match >= 0
            total += math.log(sum(math.exp(v) for v in row)) - row[target]
        per_image.append(total / max(1, foreground))
    return sum(per_image) / len(per_image)


def test_softmax_loss_matches_the_reference_with_background_and_ignored_anchors():
    head = SoftmaxClassificationHead(8, 1, 4).double()  # one anchor per place, 3 classes + bg
    torch.manual_seed(0)
    logits = torch.randn(3, 6, 4, dtype=torch.float64) * 3
    matched = torch.tensor(
        [[0, 1, -1, -2, -1, 0], [-1, -1, -2, -2, -1, -1], [-2, 0, -2, -1, 0, 0]]
    )  # image 2: background and ignored anchors only, divided by one
    labels = [[3, 1], [2], [2]]
    targets = [{"labels": torch.tensor(x)} for x in labels]
    loss = head.compute_loss(targets, {"cls_logits": logits}, list(matched))
    assert loss.item() == pytest.approx(reference_softmax_loss(logits, matched, labels), rel=1e-12)


def test_softmax_head_starts_at_the_prior_and_scores_by_softmax_probabilities():
    head = SoftmaxClassificationHead(8, 9, 4, prior_probability=0.01)
    start = head.cls_logits.bias.view(9, 4).softmax(-1)
    assert torch.allclose(start, torch.tensor([0.99] + [0.01 / 3] * 3).expand(9, 4))
    logits = torch.randn(2, 5, 4)
    scores = torch.sigmoid(detection_logits(logits, softmax=True))
    assert torch.allclose(scores[..., 1:], logits.softmax(-1)[..., 1:], atol=1e-6)
    assert scores[..., 0].eq(0).all()  # the background column is never a detection
    plain = torch.sigmoid(detection_logits(logits, softmax=False))
    assert torch.equal(plain[..., 1:], torch.sigmoid(logits)[..., 1:]) and plain[..., 0].eq(0).all()


def test_a_softmax_retinanet_reports_object_classes_with_their_probabilities(one_thread):
    model = get_task("detection").build_model(tiny(detector="retinanet", cls_loss="softmax"), INFO)
    cls_logits = model.head.classification_head.cls_logits
    with torch.no_grad():  # every anchor: background -10, classes a, b, c at 0, 1, 2
        cls_logits.weight.zero_()
        cls_logits.bias.copy_(torch.tensor([-10.0, 0.0, 1.0, 2.0]).repeat(9))
    outputs = model.eval()([torch.rand(3, 64, 64)])
    expected = math.exp(2) / (math.exp(-10) + 1 + math.exp(1) + math.exp(2))
    assert set(outputs[0]["labels"].tolist()) <= {1, 2, 3} and len(outputs[0]["labels"])
    assert outputs[0]["labels"][0] == 3
    assert outputs[0]["scores"][0].item() == pytest.approx(expected, rel=1e-5)


def reference_roi_losses(class_logits, box_regression, labels, targets) -> torch.Tensor:
    """Cross-entropy plus, for a foreground RoI, the smooth L1 (beta 1/9) of its class's box."""
    logits, regression, targets = (x.double() for x in (class_logits, box_regression, targets))
    loss = torch.logsumexp(logits, 1) - logits[torch.arange(len(labels)), labels]
    deltas = regression.view(len(labels), -1, 4)[torch.arange(len(labels)), labels] - targets
    beta = 1 / 9
    smooth = torch.where(deltas.abs() < beta, 0.5 * deltas**2 / beta, deltas.abs() - 0.5 * beta)
    return loss + smooth.sum(1) * (labels > 0)


def reference_hardest(boxes, losses, count, iou) -> list[int]:
    """Greedy: the RoIs by falling loss, each kept unless it overlaps a kept one by more than
    ``iou``, until ``count`` are kept."""
    kept: list[int] = []
    overlaps = box_iou(boxes, boxes)
    for i in losses.argsort(descending=True).tolist():
        if len(kept) < count and all(overlaps[i, j] <= iou for j in kept):
            kept.append(i)
    return kept


@pytest.mark.parametrize("iou", [1.0, 0.7])
def test_ohem_trains_on_exactly_the_hardest_rois(iou, one_thread):
    torch.manual_seed(0)
    model = get_task("detection").build_model(tiny(ohem=True), INFO).train()
    heads = model.roi_heads
    heads.nms_threshold, heads.fg_bg_sampler.batch_size_per_image = iou, 24
    calls = []
    heads.box_roi_pool.register_forward_hook(lambda _m, args, out: calls.append((args[1], out)))
    features = model.backbone(torch.rand(2, 3, 64, 64))
    proposals = [torch.rand(60, 2) * 40 for _ in range(2)]
    proposals = [torch.cat([p, p + 8 + torch.rand(60, 2) * 20], 1) for p in proposals]
    gt = [torch.tensor([[4.0, 4.0, 30.0, 30.0]]), torch.tensor([[8.0, 20.0, 50.0, 60.0]])]
    targets = [{"boxes": b, "labels": torch.tensor([c])} for b, c in zip(gt, (1, 3), strict=True)]
    _, losses = heads(features, proposals, [(64, 64)] * 2, targets)
    (scored, pooled), (trained, _) = calls  # the read-only pass, then the trained one
    with torch.no_grad():
        class_logits, box_regression = heads.box_predictor(heads.box_head(pooled))
    total, at = [], 0
    for image, rois in enumerate(scored):
        matched, labels = heads.assign_targets_to_proposals(
            [rois], [gt[image]], [targets[image]["labels"]]
        )
        goal = heads.box_coder.encode([gt[image][matched[0]]], [rois])[0]
        part = slice(at, at + len(rois))
        loss = reference_roi_losses(class_logits[part], box_regression[part], labels[0], goal)
        keep = reference_hardest(rois, loss, 24, iou)
        assert len(keep) == 24 and len(rois) == 61  # the proposals and the ground-truth box
        assert torch.equal(trained[image], rois[keep])  # hardest first, as kept
        total.append(loss[keep])
        at += len(rois)
    value = losses["loss_classifier"] + losses["loss_box_reg"]
    assert value.item() == pytest.approx(torch.cat(total).mean().item(), rel=1e-5)


@pytest.fixture(scope="module")
def pasted(tmp_path_factory):
    return build_pasted_coco(tmp_path_factory.mktemp("pasted") / "set", train=8, test=4, size=64)


@pytest.mark.parametrize(
    "options",
    [
        {"detector": "retinanet", "cls_loss": "softmax"},
        {"ohem": True},
        {"task": "instance-segmentation", "ohem": True},
    ],
    ids=str,
)
def test_a_few_steps_on_one_batch_lower_the_loss(pasted, options, one_thread):
    config = tiny(data=str(pasted), **options)
    task = get_task(config.task)
    loaders = task.build_loaders(config, World(0, 1, torch.device("cpu")))
    torch.manual_seed(0)
    model = task.build_model(config, loaders.info).train()
    batch = next(iter(loaders.train))
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    seen = []
    for _ in range(6):
        loss, _, _ = task.loss(task.forward(model, batch), batch, config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen.append(loss.item())
    assert all(math.isfinite(v) for v in seen) and seen[-1] < seen[0], seen
    head = "head.classification_head" if "cls_loss" in options else "roi_heads.box_predictor"
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert any(n.startswith(head) for n in changed)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"cls_loss": "softmax"}, "cls_loss='softmax'"),
        ({"task": "instance-segmentation", "cls_loss": "softmax"}, "cls_loss='softmax'"),
        ({"detector": "retinanet", "ohem": True}, "ohem=True"),
        ({"loss": "ohem"}, "loss='ohem'"),
        ({"cls_loss": "sigmoid"}, "cls_loss='sigmoid'"),
    ],
)
def test_misused_options_are_one_line_naming_the_setting(values, named):
    with pytest.raises(ValueError, match=named) as err:
        check_config(tiny(**values))
    assert "\n" not in str(err.value)
