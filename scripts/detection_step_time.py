"""Time one training step of the detection tasks on this CPU, with and without BA2M.

Usage: OMP_NUM_THREADS=1 python scripts/detection_step_time.py [MODEL] [FPN_CHANNELS] [SIZE...]
Builds the pasted CIFAR-10 set (attnzoo.data.pasted) in a temporary folder, takes one batch of
two 128 px images (resized by the detector's transform to SIZE), and prints the fastest of three
steps (forward, loss, backward, SGD update) per task, attention and size.
"""

import sys
import tempfile
import time
from pathlib import Path

import torch

from attnzoo.data.coco import CocoDetection, DetectionLoader, find_coco
from attnzoo.data.pasted import build_pasted_coco
from attnzoo.engine import TrainConfig
from attnzoo.engine.task import get_task


def step_seconds(task_name: str, config: TrainConfig, info: dict, batch) -> float:
    task = get_task(task_name)
    model = task.build_model(config, info).train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    times = []
    for _ in range(3):
        began = time.perf_counter()
        loss = task.loss(task.forward(model, batch), batch, config)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else "resnet18"
    channels = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    sizes = [int(s) for s in sys.argv[3:]] or [128]
    torch.manual_seed(0)
    root = build_pasted_coco(Path(tempfile.mkdtemp()) / "set", train=8, test=2)
    dataset = CocoDetection(*find_coco(root, "train2017"), train=True, masks=True)
    batch = next(iter(DetectionLoader(dataset, 2, shuffle=False, drop_last=True, flip=False)))
    info = {"classes": dataset.classes, "in_chans": 3, "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225]}  # fmt: skip
    print(f"| task | attention | size | s/step (batch 2, {torch.get_num_threads()} thread(s)) |")
    print("|---|---|---|---|")
    for task in ("detection", "instance-segmentation"):
        for attention in ("", "ba2m"):
            for size in sizes:
                config = TrainConfig.from_dict(dict(
                    task=task, model=model, attention=attention, min_size=size, max_size=size,
                    fpn_channels=channels,
                ))  # fmt: skip
                seconds = step_seconds(task, config, info, batch)
                print(f"| {task} | {attention or 'none'} | {size} | {seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
