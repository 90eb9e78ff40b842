"""Learning-rate schedules, stepped once per iteration, with an optional linear warm-up."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from ..validation import AttnzooError


def lr_factor(
    step: int,
    *,
    schedule: str,
    steps_per_epoch: int,
    epochs: int,
    milestones: tuple[int, ...] = (),
    step_size: int = 30,
    gamma: float = 0.1,
    warmup_epochs: float = 0.0,
) -> float:
    """The multiplier of the base learning rate at iteration ``step``."""
    warmup = round(warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup
    epoch = step // steps_per_epoch
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return gamma ** (epoch // step_size)
    if schedule == "multistep":
        return gamma ** sum(epoch >= m for m in milestones)
    if schedule == "cosine":
        total = epochs * steps_per_epoch - warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total, 1)))
    raise AttnzooError(f"unknown schedule {schedule!r}")


def build_scheduler(optimizer: torch.optim.Optimizer, **schedule_args) -> LambdaLR:
    """A LambdaLR over :func:`lr_factor`; call ``step()`` after every optimiser step."""
    return LambdaLR(optimizer, lambda step: lr_factor(step, **schedule_args))
