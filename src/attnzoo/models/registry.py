"""Name-to-constructor factory for backbones: ``create_model`` and ``list_models``."""

from __future__ import annotations

import fnmatch
import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from ..attention.base import module_class
from .placement import AttentionPlan, AttentionSpec, plan_attention, single_module_options
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


def model_option_names(name: str) -> list[str]:
    """The options backbone ``name`` takes besides the ones every builder gets."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    params = inspect.signature(_MODELS[name][0]).parameters
    return [p for p in params if p not in BUILDER_ARGUMENTS]


def check_model_options(name: str, model_options: dict[str, Any]) -> None:
    """Raise a ValueError naming any option backbone ``name`` does not take."""
    valid = model_option_names(name)
    unknown = sorted(set(model_options) - set(valid))
    if unknown:
        raise ValueError(
            f"{name}: unknown model option(s) {unknown}; valid: {', '.join(valid) or 'none'}"
        )


def _route_options(
    name: str, attention: AttentionSpec, options: dict[str, Any], model_options: dict[str, Any]
) -> dict[str, Any]:
    """Move the keywords that backbone ``name`` takes (and a single attention module does not)
    into ``model_options``; return the rest, for the attention."""
    backbone = set(model_option_names(name)) - set(single_module_options(attention))
    model_options.update({k: v for k, v in options.items() if k in backbone})
    rest = {k: v for k, v in options.items() if k not in backbone}
    if rest and (attention is None or attention == "none"):
        raise ValueError(
            f"{name}: option(s) {sorted(rest)} given without an attention, and the backbone does "
            f"not take them (its options: {', '.join(model_option_names(name)) or 'none'})"
        )
    return rest


def create_model(
    name: str,
    num_classes: int | None = None,
    *,
    pretrained: bool | str | os.PathLike = False,
    pretrained_strict: bool = False,
    in_chans: int = 3,
    attention: AttentionSpec = None,
    placement: str | None = None,
    stages: Sequence[int] | int | None = None,
    model_options: dict[str, Any] | None = None,
    **options: Any,
) -> nn.Module:
    """Build backbone ``name`` with attention modules.

    ``attention`` is None, a module name (``"ba2m"``), a module class or ``functools.partial`` of
    one (``partial(BA2M, tau=0.5)``), or a list of them and of ``(module, options)`` and
    ``(module, placement)`` pairs (``["se", "ba2m"]``); see :mod:`attnzoo.models.placement`.
    ``placement`` (``"block"``, ``"stage"`` or ``"conv"``), ``stages`` (1-based stage numbers) and
    the module's keyword options go to a single module; without them it goes where its class
    says. ``num_classes`` defaults to 1000 for ImageNet backbones and 10 for CIFAR ones.
    Backbone options (``drop_rate``: Wide ResNet's in-block dropout, MobileNetV2's and
    EfficientNet's classifier dropout; ``stride_in_1x1``: the ResNet v1 layout of bottleneck
    networks; ...) go in ``model_options`` or as keywords; a keyword both take goes to the
    attention module. An option neither takes is an error that lists what each takes.
    ``pretrained``: ``"timm:NAME[.TAG]"`` or ``"torchvision:NAME[.WEIGHTS]"`` (published ImageNet
    weights from the local caches of those libraries, ``attnzoo list --pretrained``), a weights
    file in their layout, or a run directory or checkpoint that ``attnzoo train`` wrote (attnzoo
    distributes no weights; ``pretrained=True`` says so); see :mod:`attnzoo.models.pretrained`.
    The model's attention modules the source lacks, and a head of another size, keep their own
    initialisation; ``model.pretrained_report`` says what was loaded, left fresh and ignored,
    ``model.pretrained_cfg`` the source's preprocessing. ``pretrained_strict``: a published tensor
    left unplaced (the source's attention, say) is an error.

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
    attention_options = _route_options(name, attention, options, model_options)
    check_model_options(name, model_options)
    plan: AttentionPlan = plan_attention(attention, placement, stages, **attention_options)
    model = builder(
        num_classes=num_classes, in_chans=in_chans, attention=plan, name=name, **model_options
    )
    if pretrained is not False:
        attention_classes = [module_class(entry.factory) for entry in plan.entries]
        load_pretrained(model, pretrained, "fc", attention_classes, pretrained_strict)
    return model
