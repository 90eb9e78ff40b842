"""SGD with (Nesterov) momentum, optionally without weight decay on norms and biases."""

from __future__ import annotations

import torch
from torch import nn

from .config import TrainConfig


def param_groups(model: nn.Module, weight_decay: float, norm_bias_decay: bool) -> list[dict]:
    """One group, or two: decayed weights, and the 1-D parameters (norm scales, biases) undecayed.

    One-dimensional parameters are the norms' scales and shifts and the layers' biases; decaying
    them pulls BatchNorm scales towards zero, which the "bag of tricks" recipes avoid.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if norm_bias_decay:
        return [{"params": params, "weight_decay": weight_decay}]
    return [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    return torch.optim.SGD(
        param_groups(model, config.weight_decay, config.norm_bias_decay),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
    )
