"""Which published ResNet weights load into which attnzoo network: ``attnzoo list --pretrained``.

A timm name is read as timm names its ResNets: ``[se|eca]`` + ``resnet|resnext|wide_resnet`` +
depth + variant (``c``: deep stem; ``d``: deep stem and average-pool shortcuts, ResNet-D; ``t``:
the tiered deep stem and average-pool shortcuts) + width (``_32x4d``, ``_2``), e.g.
``ecaresnet50t`` = ``create_model("resnet50", model_options={"stem": "tiered", "shortcut":
"avg"}, attention="eca")``.
A source loads whole into the call :func:`recipe` gives (the same tensors and logits:
``scripts/pretrained_sources.py`` checks each); into that call with another ``attention`` it loads
as a backbone (the attention and a new head fresh). Sources of other layouts say why not.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any

from .registry import list_models

TIMM_NAME = re.compile(
    r"(?P<attention>se|eca)?(?P<family>resnet|resnext|wide_resnet)(?P<depth>\d+)"
    r"(?P<variant>[cdt]?)(?P<width>_\d+x\d+d|_2)?"
)
VARIANTS: dict[str, dict[str, str]] = {
    "": {},
    "c": {"stem": "deep"},
    "d": {"stem": "deep", "shortcut": "avg"},
    "t": {"stem": "tiered", "shortcut": "avg"},
}
# Why timm's other ResNet-like weights do not load (the first pattern found in the name).
NOT_SUPPORTED = {
    "skresnet": "timm's SK splits its input between the paths; attnzoo's SK does not",
    "ts": "timm's ByobNet layout (stem, block and attention placement differ)",
    "gcresnet": "timm's ByobNet layout (stem, block and attention placement differ)",
    "resnetaa": "anti-aliased (blur-pool) downsampling",
    "resnetblur": "anti-aliased (blur-pool) downsampling",
    "resnetrs": "a strided convolution in place of the stem's max-pool",
    "resnetv2": "a pre-activation layout of its own",
    "_clip": "CLIP's attention-pool head",
    "_gn": "GroupNorm",
    "pruned": "pruned, per-layer widths",
    "light": "stage depths 1, 1, 11, 3",
    "resnest": "split attention (ResNeSt)",
    "senet": "SENet-154's 3x3 shortcut convolutions",
}
TIMM_FAMILIES = ("*resnet*", "*resnext*")
TORCHVISION_PREFIXES = ("resnet", "resnext", "wide_resnet")


@dataclass(frozen=True)
class Recipe:
    """The ``create_model`` call that builds a source's network."""

    model: str
    options: dict[str, Any] = field(default_factory=dict)
    attention: str | None = None
    attention_options: dict[str, Any] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        attention = (self.attention, self.attention_options) if self.attention_options else None
        return {"model_options": self.options, "attention": attention or self.attention}

    def call(self, source: str) -> str:
        args = [repr(self.model), *(f"{k}={v!r}" for k, v in self.kwargs().items() if v)]
        return f"create_model({', '.join(args)}, pretrained={source!r})"


def _timm_recipe(arch: str) -> Recipe | str:
    match = TIMM_NAME.fullmatch(arch)
    model = match and f"{match['family']}{match['depth']}{match['width'] or ''}"
    if match is None or match["variant"] not in VARIANTS or model not in list_models():
        reasons = [why for key, why in NOT_SUPPORTED.items() if key in arch]
        return reasons[0] if reasons else "no attnzoo network of that depth or layout"
    attention, options = match["attention"], {}
    if attention == "se" and int(match["depth"]) in (18, 34):
        options = {"min_channels": 8}  # timm rounds C/16 to a multiple of 8: 64 -> 8, not 4
    return Recipe(model, VARIANTS[match["variant"]], attention, options)


def recipe(source: str) -> Recipe | str:
    """The call that builds ``source``'s network (``timm:NAME[.TAG]``, ``torchvision:NAME``), or
    why attnzoo has none."""
    library, _, name = source.partition(":")
    arch = name.partition(".")[0]
    if library == "timm":
        return _timm_recipe(arch)
    if library == "torchvision" and arch.startswith(TORCHVISION_PREFIXES) and arch in list_models():
        return Recipe(arch)
    return "not a ResNet of torchvision's or timm's layout"


def published_sources() -> list[str]:
    """Every torchvision ResNet weight and, if timm is installed, every timm ResNet-family one."""
    sources = []
    models = importlib.import_module("torchvision.models")
    for arch in models.list_models(module=models):
        if arch.startswith(TORCHVISION_PREFIXES):
            weights = models.get_model_weights(arch)
            sources += [f"torchvision:{arch}.{w.name}" for w in weights]
    try:
        timm = importlib.import_module("timm")
    except ImportError:
        return sources
    found = {n for pattern in TIMM_FAMILIES for n in timm.list_pretrained(pattern)}
    return sources + [f"timm:{name}" for name in sorted(found)]
