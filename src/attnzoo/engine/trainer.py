"""The training loop: SGD with momentum, evaluation every epoch, JSON-lines metrics, checkpoints.

The engine knows models and datasets only through their factories (``create_model``,
``load_dataset``) and attention modules only through ``aux_loss``: it never names a module.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..attention import aux_loss
from ..data import (
    BatchLoader,
    EvalTransform,
    ImageDataset,
    TrainTransform,
    channel_stats,
    load_dataset,
)
from ..io import write_json
from ..models import count_params, create_model
from .checkpoint import save_checkpoint
from .config import TrainConfig
from .metrics import topk_correct
from .schedule import build_scheduler


def load_split(config: TrainConfig, split: str) -> ImageDataset:
    per_class = config.train_per_class if split == "train" else config.test_per_class
    return load_dataset(config.data, split, max_per_class=per_class)


@torch.no_grad()
def evaluate(model: nn.Module, loader: BatchLoader) -> dict[str, float]:
    """Mean loss and top-1/top-5 accuracy (in %) of ``model`` in eval mode over ``loader``."""
    model.eval()
    loss_sum, top1, top5, count = 0.0, 0, 0, 0
    for images, labels in loader:
        logits = model(images)
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        hits = topk_correct(logits, labels)
        top1, top5, count = top1 + hits[0], top5 + hits[1], count + len(labels)
    return {"loss": loss_sum / count, "top1": 100 * top1 / count, "top5": 100 * top5 / count}


def train_one_epoch(
    model: nn.Module,
    loader: BatchLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    epoch: int,
    progress: bool,
) -> dict[str, float]:
    model.train()
    loader.set_epoch(epoch)
    loss_sum, correct, count = 0.0, 0, 0
    start = time.perf_counter()
    bar = tqdm(loader, desc=f"epoch {epoch + 1}", leave=False, disable=not progress, unit="batch")
    for step, (images, labels) in enumerate(bar):
        logits = model(images)
        loss = F.cross_entropy(logits, labels) + aux_loss(model)
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(
                f"non-finite loss {value} at epoch {epoch + 1}, step {step + 1}; "
                "try a lower lr or a warm-up"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += value * len(labels)
        correct += int((logits.argmax(1) == labels).sum())
        count += len(labels)
        seconds = time.perf_counter() - start
        bar.set_postfix(
            loss=f"{loss_sum / count:.3f}",
            acc=f"{100 * correct / count:.1f}",
            img_s=f"{count / seconds:.0f}",
            refresh=False,
        )
    seconds = time.perf_counter() - start
    return {
        "loss": loss_sum / count,
        "top1": 100 * correct / count,
        "images_per_s": count / seconds,
        "seconds": seconds,
    }


def train(config: TrainConfig, *, progress: bool = True) -> dict[str, Any]:
    """Train ``config.model`` on ``config.data``; write metrics, checkpoint and summary.

    Returns the summary written to ``<out_dir>/summary.json``: final-epoch (not best) test top-1
    and top-5, parameter count, wall time and the full resolved configuration.
    """
    config.validate()
    started = time.perf_counter()
    out_dir = Path(config.out_dir)
    train_set, test_set = load_split(config, "train"), load_split(config, "test")
    if test_set.classes != train_set.classes:
        raise ValueError(
            f"{config.data}: the test split's classes differ from the training split's "
            f"({len(test_set.classes)} vs {len(train_set.classes)}); labels would not match"
        )
    if config.batch_size > len(train_set):
        raise ValueError(
            f"config: batch_size={config.batch_size} is larger than the training set "
            f"({len(train_set)} images)"
        )
    mean, std = channel_stats(train_set.images)
    train_loader = BatchLoader(
        train_set,
        config.batch_size,
        shuffle=True,
        drop_last=True,
        transform=TrainTransform(mean, std, padding=config.padding),
        seed=config.seed,
    )
    test_loader = BatchLoader(
        test_set,
        config.eval_batch_size,
        shuffle=False,
        drop_last=False,
        transform=EvalTransform(mean, std),
    )

    torch.manual_seed(config.seed)
    model = create_model(
        config.model,
        train_set.num_classes,
        in_chans=train_set.images.shape[1],
        attention=config.attention_spec(),
    )
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    scheduler = build_scheduler(
        optimizer,
        schedule=config.schedule,
        steps_per_epoch=len(train_loader),
        epochs=config.epochs,
        milestones=tuple(config.milestones),
        step_size=config.step_size,
        gamma=config.gamma,
        warmup_epochs=config.warmup_epochs,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = out_dir / "metrics.jsonl"
    metrics_path.write_text("")
    data_info = {
        "train_images": len(train_set),
        "test_images": len(test_set),
        "classes": list(train_set.classes),
        "mean": mean,
        "std": std,
    }
    for epoch in range(config.epochs):
        train_stats = train_one_epoch(model, train_loader, optimizer, scheduler, epoch, progress)
        test_stats = evaluate(model, test_loader)
        record = {
            "epoch": epoch + 1,
            "lr": scheduler.get_last_lr()[0],
            "train": train_stats,
            "test": test_stats,
        }
        with metrics_path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if progress:
            tqdm.write(
                f"epoch {epoch + 1}/{config.epochs}  train loss {train_stats['loss']:.3f}  "
                f"test top-1 {test_stats['top1']:.2f}%  {train_stats['images_per_s']:.0f} img/s"
            )
        save_checkpoint(
            out_dir / "checkpoint.pt",
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch + 1,
                "config": config.to_dict(),
                "data": data_info,
            },
        )

    summary = {
        "model": config.model,
        "attention": "+".join(config.attention) or "none",
        "seed": config.seed,
        "epochs": config.epochs,
        "top1": test_stats["top1"],
        "top5": test_stats["top5"],
        "test_loss": test_stats["loss"],
        "train_loss": train_stats["loss"],
        "params": count_params(model),
        "wall_seconds": time.perf_counter() - started,
        "data": data_info,
        "config": config.to_dict(),
    }
    write_json(out_dir / "summary.json", summary)
    return summary
