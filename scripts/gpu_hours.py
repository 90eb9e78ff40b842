"""Estimated H200 GPU-hours of a config's sweep, from the GPU bench of docs/benchmarks.md (s. 8).

    python scripts/gpu_hours.py ba2m-cifar100 ba2m-imagenet cbam-imagenet spem-table1
    python scripts/gpu_hours.py      # those, and every packaged detection config

An estimate, not a measurement. Each run costs epochs x training images / (images per second):
the images per second of ResNet-50 with that attention module, as measured in one eager training
step on one H200 (CIFAR: docs/bench/gpu-r50-cifar-b64, float32, batch 64; ImageNet:
docs/bench/gpu-r50-imagenet-b64-bf16-cl, bf16 + channels-last, batch 64), scaled for the other
backbones by their training MACs over ResNet-50's (docs/complexity.md), with at least ResNet-50's
time (small CIFAR networks are bound by kernel launches, not arithmetic, on that GPU). Modules
the bench did not time (ECA, SRM, SGE) are counted at SE's cost. Evaluation, data loading that
cannot keep up (ImageNet's JPEG decoding) and queue time are not counted.

Detection and instance segmentation (any config of those tasks): epochs x training images /
(images per second) too. Where the GPU bench's detection group has timed that detector's
ResNet-50 training step with that attention (docs/bench/gpu-*/bench.json, ``detection``; the
last such file in name order), that speed, scaled for another backbone by the detectors'
training multiply-adds; else the ImageNet ResNet-50 speed above, scaled by the detector's
training multiply-adds per image over ResNet-50's at 224 (3.86G). The detector's are counted on
this CPU (attnzoo.benchmarks.detection.train_macs: the built detector, a training forward pass of
two images of min_size x max_size, 800 x 1333, the most the resize gives, so an upper bound) and
kept in docs/bench/detection-train-macs.json. That second way is a coarse estimate: it assumes the
GPU runs a detector's arithmetic as fast as ResNet-50's at batch 64, where a detector's batch of
two and its RoI operations use it less, and it carries the classification bench's attention
overheads over unchanged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from attnzoo.benchmarks.detection import DetectionBench, train_macs
from attnzoo.engine.config import TrainConfig
from attnzoo.engine.config_files import packaged_configs, read_config_file
from attnzoo.io import write_json

BENCH = Path(__file__).resolve().parents[1] / "docs" / "bench"
SOURCES = {"cifar": "gpu-r50-cifar-b64", "imagenet": "gpu-r50-imagenet-b64-bf16-cl"}
IMAGES = {"cifar": 50_000, "imagenet": 1_281_167}
# Training GMACs at the dataset's resolution (docs/complexity.md), ResNet-50 first.
GMACS = {
    "resnet50_cifar": 1.22, "resnet101_cifar": 2.44, "preresnet110": 0.25, "wrn28_10": 5.24,
    "resnext29_8x64d": 4.99, "resnet164": 0.25,
    "resnet50": 3.86, "resnet101": 7.57, "resnet18": 1.81, "resnet34": 3.66, "wrn18_1_5": 3.87,
    "wrn18_2": 6.70, "resnext50_32x4d": 3.77, "resnext101_32x4d": 7.51,
}  # fmt: skip
UNTIMED_AS = {"eca": "se", "srm": "se", "sge": "se"}
DETECTION_TASKS = ("detection", "instance-segmentation")
# Training images of the detection sets, the loader keeping images with a box: COCO train2017's
# 117,266 of 118,287 (MMDetection's count; ours also drops the few with crowd boxes only), Pascal
# VOC 2007+2012 trainval and 2007 trainval, the pasted CIFAR-10 CPU set's 256.
DETECTION_IMAGES = {"coco": 117_266, "voc0712": 16_551, "voc2007": 5_011, "cifar10-pasted": 256}
MACS = BENCH / "detection-train-macs.json"


def images_per_second(kind: str) -> dict[str, float]:
    rows = json.loads((BENCH / SOURCES[kind] / "bench.json").read_text())["rows"]
    return {r["attention"]: r["train_img_s"] for r in rows}


def detection_gmacs(bench: DetectionBench) -> float:
    """Training GMACs per image of ``bench``'s detector, counted once (a minute of CPU) and kept
    in MACS."""
    key = f"{bench.name} {bench.model} {bench.height}x{bench.width} fpn{bench.fpn_channels}"
    counted = json.loads(MACS.read_text()) if MACS.is_file() else {}
    if key not in counted:
        counted[key] = round(train_macs(bench) / 1e9, 2)
        write_json(MACS, dict(sorted(counted.items())))
    return counted[key]


def measured_detection_speed() -> dict[tuple, tuple[float, str]]:
    """Training images/s of the GPU bench's detection rows, with the folder they are in (it names
    the card), by (detector, model, attention, height, width); a later folder (name order)
    overrides an earlier one."""
    speeds = {}
    for path in sorted(BENCH.glob("gpu-*/bench.json")):
        for r in json.loads(path.read_text()).get("detection", []):
            key = (r["detector"], r["model"], r["attention"], r["height"], r["width"])
            speeds[key] = (r["train_img_s"], path.parent.name)
    return speeds


def detection_hours(name: str, values: dict) -> tuple[float, int, str]:
    config = TrainConfig.from_dict({k: v for k, v in values.items() if k != "sweep"})
    if config.data not in DETECTION_IMAGES:
        raise SystemExit(f"{name}: no training image count for data {config.data!r}")
    size = dict(height=config.min_size, width=config.max_size, fpn_channels=config.fpn_channels)
    base = DetectionBench(config.task, detector=config.detector, device="cpu", amp=False, **size)
    measured, imagenet = measured_detection_speed(), images_per_second("imagenet")
    total, runs, bases = 0.0, 0, set()
    for model in values["sweep"]["models"]:
        macs = detection_gmacs(DetectionBench(**{**base.__dict__, "model": model}))
        for setting in values["sweep"]["attention"]:
            key = (base.name, "resnet50", setting, config.min_size, config.max_size)
            if key in measured:
                speed, folder = measured[key]
                speed, basis = speed * detection_gmacs(base) / macs, f"GPU bench ({folder})"
            else:
                speed = imagenet[UNTIMED_AS.get(setting, setting)] * GMACS["resnet50"] / macs
                basis = "estimate from ImageNet ResNet-50"
            seeds = values["sweep"].get("seeds", 1)
            total += seeds * config.epochs * DETECTION_IMAGES[config.data] / speed / 3600
            runs, bases = runs + seeds, bases | {basis}
    return total, runs, ", ".join(sorted(bases))


def hours(name: str) -> tuple[float, int, str]:
    values = read_config_file(name)
    if values.get("task") in DETECTION_TASKS:
        return detection_hours(name, values)
    grid = values["sweep"]
    kind = "imagenet" if values.get("augment") == "imagenet" else "cifar"
    speed = images_per_second(kind)
    reference = GMACS["resnet50" if kind == "imagenet" else "resnet50_cifar"]
    total, runs = 0.0, 0
    for model in grid["models"]:
        scale = max(1.0, GMACS[model] / reference)
        for setting in grid["attention"]:
            seconds = values["epochs"] * IMAGES[kind] / speed[UNTIMED_AS.get(setting, setting)]
            total += grid.get("seeds", 1) * seconds * scale / 3600
            runs += grid.get("seeds", 1)
    return total, runs, f"GPU bench ({kind})"


def detection_configs() -> list[str]:
    """The packaged configs of the detection tasks, by name."""
    files = sorted(p.name for p in packaged_configs().iterdir() if p.name.endswith(".yaml"))
    names = [f.removesuffix(".yaml") for f in files]
    return [n for n in names if read_config_file(n).get("task") in DETECTION_TASKS]


def main(names: list[str]) -> None:
    print("| config | runs | estimated H200 GPU-hours | from |\n|---|---:|---:|---|")
    for name in names:
        total, runs, basis = hours(name)
        print(f"| {name} | {runs} | {total:,.0f} | {basis} |")


if __name__ == "__main__":
    classification = ["ba2m-cifar100", "ba2m-imagenet", "cbam-imagenet", "spem-table1"]
    main(sys.argv[1:] or classification + detection_configs())
