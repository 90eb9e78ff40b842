"""Run directories as ``attnzoo train`` writes them, with chosen final accuracies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_run(
    run_dir: Path,
    *,
    model: str = "resnet20",
    attention: tuple[str, ...] = (),
    seed: int = 0,
    top1: float = 80.0,
    top5: float = 95.0,
    epochs: int = 3,
    params: int = 270_000,
    wall_seconds: float = 60.0,
    summary: bool = True,
    results: dict[str, Any] | None = None,
    recorded: dict[str, Any] | None = None,
    **config: Any,
) -> Path:
    """``metrics.jsonl`` with ``epochs`` records ending at ``top1``/``top5``, and, unless
    ``summary`` is false (a run still training), ``summary.json`` with the entries of
    ``recorded`` added (``best``, ``kept_on``); ``config`` overrides keys. ``results``: another
    task's summary entries in place of ``top1``/``top5`` (see :func:`detection_results`)."""
    config = {
        "model": model,
        "attention": list(attention),
        "attention_options": {},
        "data": "cifar10",
        "epochs": epochs,
        "batch_size": 128,
        "lr": 0.1,
        "schedule": "cosine",
        "seed": seed,
        "out_dir": str(run_dir),
        **config,
    }
    run_dir.mkdir(parents=True)
    with (run_dir / "metrics.jsonl").open("w") as f:
        for epoch in range(1, epochs + 1):
            progress = epoch / epochs
            record = {
                "epoch": epoch,
                "lr": 0.1 * (1 - progress),
                "train": {
                    "loss": 2 - progress,
                    "top1": top1 * progress,
                    "images_per_s": 100.0,
                    "seconds": 1.0,
                },
                "test": {"loss": 2.1 - progress, "top1": top1 * progress, "top5": top5 * progress},
            }
            f.write(json.dumps(record) + "\n")
    if summary:
        result = {
            "model": model,
            "attention": "+".join(attention) or "none",
            "seed": seed,
            "epochs": epochs,
            **(results or {"top1": top1, "top5": top5, "test_loss": 1.1}),
            "train_loss": 1.0,
            "params": params,
            "wall_seconds": wall_seconds,
            "data": {"train_images": 500, "test_images": 100},
            "config": config,
            **(recorded or {}),
        }
        (run_dir / "summary.json").write_text(json.dumps(result, indent=2))
    return run_dir


def detection_results(task: str = "detection", **metrics: float) -> dict[str, Any]:
    """A detection run's summary entries as the trainer writes them: the task, COCOeval's box
    (and, for instance segmentation, mask) metrics in %, and the primary metric; ``metrics``
    overrides values (box_ap=38.0)."""
    kinds = ("box", "mask") if task == "instance-segmentation" else ("box",)
    names = ("ap", "ap50", "ap75", "ap_s", "ap_m", "ap_l")
    values = {f"{k}_{n}": 10.0 + i for k in kinds for i, n in enumerate(names)} | metrics
    primary = "mask_ap" if task == "instance-segmentation" else "box_ap"
    return {"task": task, **values, "primary_metric": primary, "higher_is_better": True}
