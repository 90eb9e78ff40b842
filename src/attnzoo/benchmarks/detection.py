"""What attention costs a detector: Faster R-CNN and Mask R-CNN training step and inference time on
a synthetic batch (the GPU bench's detection group, ``scripts/gpu-bench.sh``), and a detector's
multiply-adds per training image (``scripts/gpu_hours.py``).

The detector is the task's own (:meth:`attnzoo.engine.detection.Detection.build_model`) with the
named COCO configs' trainable stages (stem and stage 1 frozen) but built from scratch: the GPU
machine has no weights to load, and its BatchNorm layers train where the configs freeze them.
The batch: ``batch_size`` random images of ``height`` x ``width`` (800 x 1333, the most the COCO
configs' resize gives) with three random boxes (and their masks) each, 80 classes; no data set
and no pycocotools. Settings of one task are timed interleaved (:func:`.timing.interleaved`), so
their ratios to the baseline stand on their own.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..engine.config import TrainConfig
from ..engine.task import get_task
from ..markdown import table
from .timing import interleaved, median_ratio, synchronize

CLASSES = 80  # COCO's
Batch = tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]


@dataclass(frozen=True)
class DetectionBench:
    task: str  # detection (Faster R-CNN) or instance-segmentation (Mask R-CNN)
    attention: str = ""  # "" or an attention spec
    model: str = "resnet50"
    detector: str = "faster_rcnn"
    height: int = 800
    width: int = 1333
    batch_size: int = 2
    fpn_channels: int = 256
    device: str = "cuda"
    amp: bool = True  # bf16 autocast

    @property
    def name(self) -> str:
        return "mask_rcnn" if self.task == "instance-segmentation" else self.detector


def build(bench: DetectionBench) -> nn.Module:
    config = TrainConfig.from_dict(
        dict(
            task=bench.task,
            model=bench.model,
            attention=bench.attention,
            detector=bench.detector,
            min_size=min(bench.height, bench.width),
            max_size=max(bench.height, bench.width),
            fpn_channels=bench.fpn_channels,
            trainable_stages=3,
        )
    )
    info = {"classes": [str(i) for i in range(CLASSES)], "in_chans": 3}
    info |= {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    return get_task(bench.task).build_model(config, info).to(bench.device)


def synthetic_batch(bench: DetectionBench) -> Batch:
    """Random images with three boxes each (x1, y1, x2, y2, 32 to 300 px) and their masks."""
    generator = torch.Generator().manual_seed(0)
    h, w, images, targets = bench.height, bench.width, [], []
    for _ in range(bench.batch_size):
        images.append(torch.rand(3, h, w, generator=generator).to(bench.device))
        size = torch.randint(32, 300, (3, 2), generator=generator).clamp(max=min(h, w) - 1)
        corner = (torch.rand(3, 2, generator=generator) * (torch.tensor([w, h]) - size)).floor()
        boxes = torch.cat([corner, corner + size], 1).float()
        masks = torch.zeros(3, h, w, dtype=torch.uint8)
        for mask, (x1, y1, x2, y2) in zip(masks, boxes.int().tolist(), strict=True):
            mask[y1:y2, x1:x2] = 1
        labels = torch.randint(1, CLASSES + 1, (3,), generator=generator)
        target = {"boxes": boxes, "labels": labels, "masks": masks}
        targets.append({k: v.to(bench.device) for k, v in target.items()})
    return images, targets


def _autocast(bench: DetectionBench):
    if not bench.amp:
        return nullcontext()
    return torch.autocast(bench.device.split(":")[0], dtype=torch.bfloat16)


def train_step_fn(bench: DetectionBench, model: nn.Module, batch: Batch) -> Callable[[], None]:
    """One SGD step: forward with the targets, the sum of the loss terms, backward, update."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1e-4, momentum=0.9)

    def step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with _autocast(bench):
            losses = model(*batch)
        sum(losses.values()).backward()
        optimizer.step()
        synchronize(bench.device)

    return step


def infer_fn(bench: DetectionBench, model: nn.Module, batch: Batch) -> Callable[[], None]:
    """Detections of the batch's images (eval mode, post-processing and mask pasting included)."""

    def forward() -> None:
        model.eval()
        with torch.no_grad(), _autocast(bench):
            model(batch[0])
        synchronize(bench.device)

    return forward


def train_macs(bench: DetectionBench) -> float:
    """Multiply-adds per image of a training forward pass of ``bench``'s batch (losses included),
    counted as :mod:`.complexity` counts them (convolutions and matrix products)."""
    model, batch = build(bench), synthetic_batch(bench)
    model.train()
    with FlopCounterMode(display=False) as counter:
        model(*batch)
    return counter.get_total_flops() / 2 / bench.batch_size


def run(benches: Sequence[DetectionBench], warmup: int, repeats: int) -> list[dict]:
    """Median seconds of a training step and of inference of each of ``benches`` (one task; the
    first is the baseline), timed interleaved, with each one's median ratio to the first within a
    round, and CUDA's peak memory of the group."""
    models = [build(b) for b in benches]
    batches = [synthetic_batch(b) for b in benches]
    if benches[0].device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    trains = [train_step_fn(b, m, x) for b, m, x in zip(benches, models, batches, strict=True)]
    infers = [infer_fn(b, m, x) for b, m, x in zip(benches, models, batches, strict=True)]
    train_times = interleaved(trains, warmup, repeats)
    infer_times = interleaved(infers, warmup, repeats)
    rows = []
    for b, train, infer in zip(benches, train_times, infer_times, strict=True):
        row = asdict(b) | {"detector": b.name, "attention": b.attention or "none"}
        row |= {"train_s": statistics.median(train), "infer_s": statistics.median(infer)}
        row["train_img_s"] = b.batch_size / row["train_s"]
        row["train_ratio"] = median_ratio(train, train_times[0])
        row["infer_ratio"] = median_ratio(infer, infer_times[0])
        rows.append(row)
    if benches[0].device.startswith("cuda"):
        rows[0]["group_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return rows


def markdown(rows: Sequence[dict]) -> str:
    head = ["detector", "model", "attention", "image", "batch", "bf16", "train step (s)"]
    head += ["train / baseline", "inference (s)", "inference / baseline"]
    body = [
        [
            r["detector"], r["model"], r["attention"], f"{r['height']}x{r['width']}",
            str(r["batch_size"]), "yes" if r["amp"] else "no", f"{r['train_s']:.3f}",
            f"{r['train_ratio']:.2f}", f"{r['infer_s']:.3f}", f"{r['infer_ratio']:.2f}",
        ]
        for r in rows
    ]  # fmt: skip
    return table(head, body)
