"""A trained run as a model: ``attnzoo.load_run(run_dir_or_checkpoint)``."""

from __future__ import annotations

import os

from torch import nn

from ..models.pretrained import checkpoint_file
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .evaluate import model_from_checkpoint


def load_run(run_dir_or_checkpoint: str | os.PathLike) -> tuple[nn.Module, TrainConfig]:
    """The model a run trained, with its last saved weights, in eval mode, and its config.

    ``run_dir_or_checkpoint`` is a run directory (its ``checkpoint.safetensors`` is read) or a
    checkpoint file (e.g. an ``epoch-NNN.safetensors`` snapshot). The model is rebuilt from the
    run's own config (model, attention modules and their options, number of classes and input
    channels) on the CPU; nothing is unpickled.

    >>> model, config = load_run("runs/resnet20-ba2m-s0")  # doctest: +SKIP
    """
    path = checkpoint_file(run_dir_or_checkpoint)
    state = load_checkpoint(path)
    model = model_from_checkpoint(state, path)
    return model.eval(), TrainConfig.from_dict(state["config"])
