"""Name-to-constructor factory for backbones: ``create_model`` and ``list_models``."""

from __future__ import annotations

import fnmatch
import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from ..attention.base import module_class
from ..attention.spec import AttentionSpec
from ..validation import AttnzooError
from .placement import AttentionPlan, plan_attention
from .pretrained import load_pretrained

# A model entry builds the network from (num_classes, in_chans, attention plan).
ModelBuilder = Callable[..., nn.Module]

_MODELS: dict[str, tuple[ModelBuilder, int]] = {}
BUILDER_ARGUMENTS = ("num_classes", "in_chans", "attention", "name")


def register_model(name: str, default_classes: int) -> Callable[[ModelBuilder], ModelBuilder]:
    def decorator(fn: ModelBuilder) -> ModelBuilder:
        if name in _MODELS:
            raise AttnzooError(f"model {name!r} is already registered")
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
        raise AttnzooError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    params = inspect.signature(_MODELS[name][0]).parameters
    return [p for p in params if p not in BUILDER_ARGUMENTS]


def check_model_options(name: str, model_options: dict[str, Any]) -> None:
    """Raise a ValueError naming any option backbone ``name`` does not take."""
    valid = model_option_names(name)
    unknown = sorted(set(model_options) - set(valid))
    if unknown:
        raise AttnzooError(
            f"{name}: unknown model option(s) {unknown}; valid: {', '.join(valid) or 'none'}"
        )


def create_model(
    name: str,
    num_classes: int | None = None,
    *,
    pretrained: bool | str | os.PathLike = False,
    pretrained_strict: bool = False,
    in_chans: int = 3,
    attention: AttentionSpec = None,
    placement: str | None = None,
    stages: Sequence[int] | int | str | None = None,
    model_options: dict[str, Any] | None = None,
) -> nn.Module:
    """Build backbone ``name`` with attention modules.

    ``attention`` is a spec in the grammar documented in :mod:`attnzoo.attention.spec`
    (``"se+ba2m"``, ``["se", ("ba2m", {"tau": 0.5})]``, ...), module options included.
    ``placement`` (``"block"``, ``"stage"`` or ``"conv"``) and ``stages`` (1-based stage
    numbers) place a spec of one module; without them a module goes where its class says.
    Backbone options (``drop_rate``: Wide ResNet's in-block dropout, MobileNetV2's and
    EfficientNet's classifier dropout; ``stride_in_1x1``: the ResNet v1 layout of bottleneck
    networks; ``input_size``: the input side a conv module is sized for; ...) go in
    ``model_options``; an option the backbone does not take is an error that lists those it
    takes. ``num_classes`` defaults to 1000 for ImageNet backbones and 10 for CIFAR ones.
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
        raise AttnzooError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    builder, default_classes = _MODELS[name]
    num_classes = default_classes if num_classes is None else num_classes
    for arg, value in (("num_classes", num_classes), ("in_chans", in_chans)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AttnzooError(f"{name}: {arg} must be a positive int, got {value!r}")
    model_options = dict(model_options or {})
    check_model_options(name, model_options)
    plan: AttentionPlan = plan_attention(attention, placement, stages)
    model = builder(
        num_classes=num_classes, in_chans=in_chans, attention=plan, name=name, **model_options
    )
    if pretrained is not False:
        attention_classes = [module_class(entry.factory) for entry in plan.entries]
        load_pretrained(model, pretrained, "fc", attention_classes, pretrained_strict)
    return model
