"""Evaluate a saved checkpoint on a dataset split, through the task it was trained for."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from torch import nn

from ..validation import AttnzooError
from .checkpoint import CheckpointError, load_checkpoint
from .config import TrainConfig
from .task import get_task


def model_from_checkpoint(
    state: dict[str, Any],
    path: str | os.PathLike = "",
    attention_options: dict[str, dict[str, Any]] | None = None,
) -> nn.Module:
    """The network a checkpoint (from :func:`load_checkpoint`) was trained as, with its weights.

    ``attention_options`` override the trained modules' options that do not change weights,
    e.g. ``{"ba2m": {"eval_mode": "batch"}}`` to test BA2M's batch softmax at inference.
    """
    config = TrainConfig.from_dict(state["config"])
    for module, options in (attention_options or {}).items():
        if module not in config.attention:
            raise AttnzooError(
                f"{path}: option for {module!r}, but the model was trained with "
                f"{config.attention or 'no attention'}"
            )
        config.attention_options.setdefault(module, {}).update(options)
    # The checkpoint holds every weight: rebuild the architecture alone, without reading the
    # pretrained source again (its file need not be on this machine) or freezing BatchNorm
    # (a frozen layer's state_dict is a BatchNorm's, and in eval mode it computes the same).
    config = dataclasses.replace(config, pretrained="", freeze_bn=False, pretrained_lr_scale=1.0)
    model = get_task(config.task).build_model(config, state["data"])
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit {config.model}: {err}") from None
    return model


def evaluate_checkpoint(
    path: str | os.PathLike,
    *,
    data: str | None = None,
    split: str = "test",
    per_class: int | None = None,
    batch_size: int = 500,
    attention_options: dict[str, dict[str, Any]] | None = None,
    state: dict[str, Any] | None = None,
    download: bool = True,
) -> dict[str, Any]:
    """Rebuild the model a checkpoint was trained as, load its weights, and evaluate it on
    ``split`` of ``data`` (default: the run's dataset), prepared as the run's test split."""
    state = state or load_checkpoint(path)  # a caller that already read it passes it
    config = TrainConfig.from_dict(state["config"])
    task, source = get_task(config.task), data or config.data
    loader, size = task.eval_loader(
        config,
        state["data"],
        source=source,
        split=split,
        per_class=per_class,
        batch_size=batch_size,
        download=download,
    )
    model = model_from_checkpoint(state, path, attention_options)
    return {
        "checkpoint": str(path),
        "data": source,
        "split": split,
        "images": size,
        "epoch": state.get("epoch"),
        **task.evaluate(model, loader, None),
    }
