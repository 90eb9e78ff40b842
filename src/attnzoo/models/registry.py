"""Name-to-constructor factory for backbones: ``create_model`` and ``list_models``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from .placement import AttentionPlan, AttentionSpec, plan_attention

# A model entry builds the network from (num_classes, in_chans, attention plan).
ModelBuilder = Callable[..., nn.Module]

_MODELS: dict[str, tuple[ModelBuilder, int]] = {}


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


def list_models() -> list[str]:
    """Names of all registered backbones, sorted."""
    return sorted(_MODELS)


def create_model(
    name: str,
    num_classes: int | None = None,
    *,
    in_chans: int = 3,
    attention: AttentionSpec = None,
    **attention_options: Any,
) -> nn.Module:
    """Build backbone ``name`` with attention modules at their default places.

    ``attention`` is None, a module name (``"ba2m"``), or a list of names and ``(name, options)``
    pairs (``["se", "ba2m"]``); keyword options go to a single module. ``num_classes`` defaults to
    1000 for ImageNet backbones and 10 for CIFAR ones.

    >>> model = create_model("resnet50", attention="ba2m", tau=1.0)
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    builder, default_classes = _MODELS[name]
    num_classes = default_classes if num_classes is None else num_classes
    for arg, value in (("num_classes", num_classes), ("in_chans", in_chans)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: {arg} must be a positive int, got {value!r}")
    plan: AttentionPlan = plan_attention(attention, **attention_options)
    return builder(num_classes=num_classes, in_chans=in_chans, attention=plan, name=name)
