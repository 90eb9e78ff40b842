"""Estimated H200 GPU-hours of a config's sweep, from the GPU bench of docs/benchmarks.md (s. 8).

    python scripts/gpu_hours.py ba2m-cifar100 ba2m-imagenet cbam-imagenet spem-table1

An estimate, not a measurement. Each run costs epochs x training images / (images per second):
the images per second of ResNet-50 with that attention module, as measured in one eager training
step on one H200 (CIFAR: docs/bench/gpu-r50-cifar-b64, float32, batch 64; ImageNet:
docs/bench/gpu-r50-imagenet-b64-bf16-cl, bf16 + channels-last, batch 64), scaled for the other
backbones by their training MACs over ResNet-50's (docs/complexity.md), with at least ResNet-50's
time (small CIFAR networks are bound by kernel launches, not arithmetic, on that GPU). Modules
the bench did not time (ECA, SRM, SGE) are counted at SE's cost. Evaluation, data loading that
cannot keep up (ImageNet's JPEG decoding) and queue time are not counted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from attnzoo.engine.config_files import read_config_file

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


def images_per_second(kind: str) -> dict[str, float]:
    rows = json.loads((BENCH / SOURCES[kind] / "bench.json").read_text())["rows"]
    return {r["attention"]: r["train_img_s"] for r in rows}


def hours(name: str) -> tuple[float, int]:
    values = read_config_file(name)
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
    return total, runs


def main(names: list[str]) -> None:
    print("| config | runs | estimated H200 GPU-hours |\n|---|---:|---:|")
    for name in names:
        total, runs = hours(name)
        print(f"| {name} | {runs} | {total:,.0f} |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["ba2m-cifar100", "ba2m-imagenet", "cbam-imagenet", "spem-table1"])
