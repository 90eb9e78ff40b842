"""SGD with (Nesterov) momentum and per-parameter-group settings.

Parameters are grouped by name: ``freeze`` patterns stop training the parameters they match,
``lr_scales`` patterns multiply the learning rate of the parameters they match (the first
matching pattern wins). A parameter no pattern matches takes ``pretrained_lr_scale`` if
``create_model(..., pretrained=...)`` loaded it (``model.pretrained_report.loaded``), else the
full rate. Fine-tuning a pretrained backbone is ``pretrained_lr_scale: 0.1``: the loaded backbone
at a tenth of the rate, new attention modules and a new head at the full rate; spelled with
patterns, ``lr_scales: {"*.attn.*": 1.0, "stem.*": 0.1, "stages.*": 0.1}``. Patterns are
``fnmatch`` patterns over ``model.named_parameters()`` names, and a pattern that matches no
parameter is an error (a typo would otherwise silently train everything at the full rate).
Parameters already frozen (``requires_grad`` off, e.g. by ``freeze_bn``) get no group.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

import torch
from torch import nn

from ..validation import AttnzooError
from .config import TrainConfig


def _first_match(name: str, patterns: list[str]) -> str | None:
    return next((p for p in patterns if fnmatchcase(name, p)), None)


def _check_patterns(key: str, patterns: list[str], names: list[str], model: str) -> None:
    unused = [p for p in patterns if not any(fnmatchcase(n, p) for n in names)]
    if unused:
        raise AttnzooError(
            f"config: {key} pattern(s) {', '.join(map(repr, unused))} match no parameter of "
            f"{model} (names such as {names[0]!r}, {names[-1]!r})"
        )


def param_groups(model: nn.Module, config: TrainConfig) -> list[dict]:
    """The optimiser's parameter groups: by learning-rate scale, and by decay.

    One-dimensional parameters are the norms' scales and shifts and the layers' biases; with
    ``norm_bias_decay`` off they are not decayed (decaying them pulls BatchNorm scales towards
    zero, which the "bag of tricks" recipes avoid). Frozen parameters get ``requires_grad`` off
    and no group. Groups with the same settings keep the parameters' order.
    """
    named = list(model.named_parameters())
    names = [n for n, _ in named]
    _check_patterns("freeze", config.freeze, names, config.model)
    _check_patterns("lr_scales", list(config.lr_scales), names, config.model)
    report = getattr(model, "pretrained_report", None)
    loaded = set(report.loaded) if report is not None else set()
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
    for name, param in named:
        if _first_match(name, config.freeze) is not None:
            param.requires_grad_(False)
        if not param.requires_grad:
            continue
        scale = _lr_scale(name, config, loaded)
        decayed = config.norm_bias_decay or param.ndim > 1
        groups.setdefault((scale, decayed), []).append(param)
    return [
        {
            "params": params,
            "lr": config.lr * scale,
            "weight_decay": config.weight_decay if decayed else 0.0,
        }
        for (scale, decayed), params in sorted(groups.items(), key=_group_order)
    ]


def _lr_scale(name: str, config: TrainConfig, loaded: set[str]) -> float:
    """The first matching ``lr_scales`` pattern's, else ``pretrained_lr_scale`` for a loaded
    parameter, else 1."""
    pattern = _first_match(name, list(config.lr_scales))
    if pattern is not None:
        return float(config.lr_scales[pattern])
    return float(config.pretrained_lr_scale) if name in loaded else 1.0


def _group_order(item: tuple[tuple[float, bool], list]) -> tuple[float, bool]:
    """Full rate first, decayed before undecayed (the order of the groups before lr_scales)."""
    (scale, decayed), _ = item
    return -scale, not decayed


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    return torch.optim.SGD(
        param_groups(model, config),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
    )
