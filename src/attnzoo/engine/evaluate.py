"""Evaluate a saved checkpoint on a dataset split."""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from ..data import BatchLoader, EvalTransform, StreamLoader, load_dataset, open_stream
from ..models import create_model
from .checkpoint import CheckpointError, load_checkpoint
from .config import TrainConfig
from .trainer import evaluate


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
            raise ValueError(
                f"{path}: option for {module!r}, but the model was trained with "
                f"{config.attention or 'no attention'}"
            )
        config.attention_options.setdefault(module, {}).update(options)
    info = state["data"]
    model = create_model(
        config.model,
        len(info["classes"]),
        in_chans=info["in_chans"],
        attention=config.attention_spec(),
        model_options=config.model_options,
    )
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
    """Rebuild the model a checkpoint was trained as, load its weights, and evaluate it.

    The images are normalised with the training set's statistics stored in the checkpoint, and
    prepared as in training's test split (CIFAR: as they are; ImageNet: resize and centre crop).
    """
    state = state or load_checkpoint(path)  # a caller that already read it passes it
    config = TrainConfig.from_dict(state["config"])
    info, source = state["data"], data or config.data
    if config.augment == "imagenet":
        samples, classes = open_stream(source, split)
        loader = StreamLoader(
            samples, classes, batch_size, train=False, num_workers=config.workers,
            image_size=info["image_size"], mean=info["mean"], std=info["std"],
        )  # fmt: skip
        num_classes = len(classes)
    else:
        dataset = load_dataset(source, split, download, max_per_class=per_class)
        loader = BatchLoader(
            dataset, batch_size, shuffle=False, drop_last=False,
            transform=EvalTransform(info["mean"], info["std"]),
        )  # fmt: skip
        num_classes = dataset.num_classes
    if num_classes != len(info["classes"]):
        raise ValueError(
            f"{source} has {num_classes} classes but the checkpoint {path} "
            f"was trained on {len(info['classes'])}"
        )
    model = model_from_checkpoint(state, path, attention_options)
    return {
        "checkpoint": str(path),
        "data": source,
        "split": split,
        "images": len(samples) if config.augment == "imagenet" else len(dataset),
        "epoch": state.get("epoch"),
        **evaluate(model, loader),
    }
