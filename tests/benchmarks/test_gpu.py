"""The prepared GPU benchmark's plan and its time guard (run on the CPU with tiny networks)."""

from __future__ import annotations

import argparse
import json

from attnzoo.benchmarks import detection, gpu
from attnzoo.benchmarks.complexity import complexity
from attnzoo.models import create_model


def test_every_module_is_grouped_with_its_peer_and_the_baseline_in_every_mode():
    groups = gpu.groups(tiny=False, device="cuda", modes=gpu.MODES)
    assert len(groups) == len(gpu.MODES) * 2 * len(gpu.MODULES)
    for base, module, peer in groups:
        assert base.attention == () and module.attention == peer.attention
        assert peer.peer and not module.peer and base.compile_mode == peer.compile_mode
        assert base.amp and base.channels_last
    assert {g[0].compile_mode for g in groups} == {None, "default", "reduce-overhead"}


def test_budget_skips_groups_and_says_which(tmp_path):
    out = tmp_path / "gpu"
    argv = ["--tiny", "--device", "cpu", "--modes", "eager", "--warmup", "0", "--repeats", "1"]
    argv += ["--detection-budget", "0"]
    assert gpu.main([*argv, "--budget", "0", "--out", str(out)]) == 0
    data = json.loads((out / "bench.json").read_text())
    # The first group always runs (nothing measured yet); with no budget the rest are skipped.
    assert [r["attention"] for r in data["rows"]] == ["none", "se", "se (peer)"]
    assert len(data["skipped"]) == len(gpu.MODULES) - 1
    assert (out / "skipped.txt").read_text().splitlines() == data["skipped"]
    assert "| resnet20 | se (peer) |" in (out / "bench.md").read_text()


def test_detection_groups_are_the_papers_detectors_at_coco_size():
    groups = gpu.detection_groups(tiny=False, device="cuda")
    assert [g[0].name for g in groups] == ["faster_rcnn", "mask_rcnn"]
    for group in groups:
        assert [b.attention for b in group] == ["", "ba2m", "cbam"]  # the baseline first
        for b in group:
            assert (b.model, b.height, b.width, b.batch_size, b.amp) == (
                "resnet50",
                800,
                1333,
                2,
                True,
            )


def test_detection_runs_after_eager_classification_before_compiled():
    args = argparse.Namespace(tiny=False, device="cuda", modes="eager,default", detection_budget=90)
    args.warmup, args.repeats = 3, 10
    tags = [tag for tag, _, _ in gpu.plan(args)]
    kinds = [kind for _, kind, _ in gpu.plan(args)]
    eager = 2 * len(gpu.MODULES)
    assert all(t.endswith(" eager") for t in tags[:eager])
    assert tags[eager : eager + 2] == [
        "faster_rcnn resnet50 800x1333",
        "mask_rcnn resnet50 800x1333",
    ]
    assert kinds[eager : eager + 2] == ["detection"] * 2
    assert all(t.endswith(" default") for t in tags[eager + 2 :])
    args.detection_budget = 0
    assert "detection" not in [kind for _, kind, _ in gpu.plan(args)]


def test_detection_group_times_every_setting_against_the_baseline():
    tiny = dict(model="resnet18", height=64, width=96, fpn_channels=32, device="cpu")
    benches = [detection.DetectionBench("instance-segmentation", a, **tiny) for a in ("", "ba2m")]
    rows = detection.run(benches, warmup=0, repeats=2)
    assert [(r["detector"], r["attention"]) for r in rows] == [
        ("mask_rcnn", "none"),
        ("mask_rcnn", "ba2m"),
    ]
    assert rows[0]["train_ratio"] == rows[0]["infer_ratio"] == 1.0
    assert all(r["train_s"] > 0 and r["train_img_s"] == 2 / r["train_s"] for r in rows)
    assert "| mask_rcnn | resnet18 | ba2m | 64x96 | 2 | yes |" in detection.markdown(rows)


def test_detector_macs_count_backbone_and_heads():
    """A detector's training MACs per image are its backbone's at that size (counted by the
    classification counter) plus the pyramid's and heads': more than the backbone and the box
    head's two fully connected layers on the RoIs it samples (at least 64 per image here); Mask
    R-CNN's are Faster R-CNN's plus its mask head's."""
    size = dict(model="resnet18", height=128, width=128, device="cpu")
    backbone = complexity(create_model("resnet18", 1), 128)["eval_macs"]
    faster = detection.train_macs(detection.DetectionBench("detection", **size))
    mask = detection.train_macs(detection.DetectionBench("instance-segmentation", **size))
    assert backbone + 64 * (256 * 49 * 1024 + 1024 * 1024) < faster < mask
