"""Evaluate a saved checkpoint on a dataset split."""

from __future__ import annotations

import os
from typing import Any

from ..data import BatchLoader, EvalTransform, load_dataset
from ..models import create_model
from .checkpoint import CheckpointError, load_checkpoint
from .config import TrainConfig
from .trainer import evaluate


def evaluate_checkpoint(
    path: str | os.PathLike,
    *,
    data: str | None = None,
    split: str = "test",
    per_class: int | None = None,
    batch_size: int = 500,
) -> dict[str, Any]:
    """Rebuild the model a checkpoint was trained as, load its weights, and evaluate it.

    The images are normalised with the training set's statistics stored in the checkpoint.
    """
    state = load_checkpoint(path)
    config = TrainConfig.from_dict(state["config"])
    info = state["data"]
    dataset = load_dataset(data or config.data, split, max_per_class=per_class)
    if dataset.num_classes != len(info["classes"]):
        raise ValueError(
            f"{data or config.data} has {dataset.num_classes} classes but the checkpoint {path} "
            f"was trained on {len(info['classes'])}"
        )
    model = create_model(
        config.model,
        len(info["classes"]),
        in_chans=len(info["mean"]),
        attention=config.attention_spec(),
    )
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit {config.model}: {err}") from None
    loader = BatchLoader(
        dataset,
        batch_size,
        shuffle=False,
        drop_last=False,
        transform=EvalTransform(info["mean"], info["std"]),
    )
    return {
        "checkpoint": str(path),
        "data": data or config.data,
        "split": split,
        "images": len(dataset),
        "epoch": state.get("epoch"),
        **evaluate(model, loader),
    }
