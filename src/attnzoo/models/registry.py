"""Name-to-constructor factory for backbones: ``create_model`` and ``list_models``."""

from __future__ import annotations

import fnmatch
import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from .placement import AttentionPlan, AttentionSpec, plan_attention
from .pretrained import load_pretrained

# A model entry builds the network from (num_classes, in_chans, attention plan).
ModelBuilder = Callable[..., nn.Module]

_MODELS: dict[str, tuple[ModelBuilder, int]] = {}
BUILDER_ARGUMENTS = ("num_classes", "in_chans", "attention", "name")


def register_model(name: str, default_classes: int) -> Callable[[ModelBuilder], ModelBuilder]:
    def decorator(fn: ModelBuilder) -> ModelBuilder:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = (fn, default_classes)
        return fn

    return decorator


def count_params(model: nn.Module) -> int:
    """Number of parameters (weights and biases; BatchNorm buffers are not parameters)."""
    return sum(p.numel() for p in model.parameters())


def list_models(pattern: str = "") -> list[str]:
    """Names of the registered backbones, sorted; ``pattern`` filters them as timm's does, with
    shell wildcards (``list_models("resnet*")``)."""
    return sorted(n for n in _MODELS if not pattern or fnmatch.fnmatchcase(n, pattern))


def check_model_options(name: str, model_options: dict[str, Any]) -> None:
    """Raise a ValueError naming any option backbone ``name`` does not take."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    valid = [
        p for p in inspect.signature(_MODELS[name][0]).parameters if p not in BUILDER_ARGUMENTS
    ]
    unknown = sorted(set(model_options) - set(valid))
    if unknown:
        raise ValueError(
            f"{name}: unknown model option(s) {unknown}; valid: {', '.join(valid) or 'none'}"
        )


def create_model(
    name: str,
    num_classes: int | None = None,
    *,
    pretrained: bool | str | os.PathLike = False,
    in_chans: int = 3,
    attention: AttentionSpec = None,
    placement: str | None = None,
    stages: Sequence[int] | int | None = None,
    model_options: dict[str, Any] | None = None,
    **attention_options: Any,
) -> nn.Module:
    """Build backbone ``name`` with attention modules.

    ``attention`` is None, a module name (``"ba2m"``), or a list of names, ``(name, options)`` and
    ``(name, placement)`` pairs (``["se", "ba2m"]``); see :mod:`attnzoo.models.placement`.
    ``placement`` (``"block"`` or ``"stage"``), ``stages`` (1-based stage numbers) and keyword
    options go to a single module; without them it goes where its class says. ``num_classes``
    defaults to 1000 for ImageNet backbones and 10 for CIFAR ones. ``model_options`` go to the
    backbone: ``drop_rate`` (Wide ResNet's in-block dropout, MobileNetV2's and EfficientNet's
    classifier dropout), ``stride_in_1x1`` (the ResNet v1 layout of bottleneck networks), ...;
    an option a backbone lacks is an error that lists the ones it has. ``pretrained`` is a run
    directory or checkpoint that ``attnzoo train`` wrote (attnzoo distributes no pretrained
    weights; ``pretrained=True`` says so).

    >>> model = create_model("resnet50", attention="ba2m", placement="stage", stages=(2, 4))
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    builder, default_classes = _MODELS[name]
    num_classes = default_classes if num_classes is None else num_classes
    for arg, value in (("num_classes", num_classes), ("in_chans", in_chans)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: {arg} must be a positive int, got {value!r}")
    model_options = dict(model_options or {})
    check_model_options(name, model_options)
    plan: AttentionPlan = plan_attention(attention, placement, stages, **attention_options)
    model = builder(
        num_classes=num_classes, in_chans=in_chans, attention=plan, name=name, **model_options
    )
    if pretrained is not False:
        load_pretrained(model, pretrained, classifier="fc")
    return model
