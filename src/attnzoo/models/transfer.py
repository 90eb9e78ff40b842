"""torchvision's and timm's ResNet weights placed in an attnzoo ResNet, tensor by tensor.

Both libraries name a ResNet's tensors alike: ``conv1``/``bn1`` (timm's deep stems
``conv1.0`` ... ``conv1.6``), ``layerI.J.convK``/``bnK``/``downsample.K``, a block's attention
``layerI.J.se.*`` (timm's SE: ``fc1``, ``fc2``; its ECA: ``conv``) and ``fc``. Each tensor of the
attnzoo model that has one of these roles is given that name, read off the model's own structure
(so a block whose 3x3 convolution an SK or AA module replaces gets no ``conv2``), and takes the
source's tensor of that name and shape. The source's block attention goes into the model's only
where it is the same module (timm's SE into :class:`~attnzoo.attention.se.SE`, its ECA into
:class:`~attnzoo.attention.eca.ECA`, at the same widths).

What is not placed is reported, never guessed: the model's attention modules and a head of another
size keep the initialisation their modules give them (``fresh``); the source's tensors without a
place are ``ignored``. A backbone tensor without a counterpart of its shape is an error: the
source is another network.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..attention.base import AttentionModule
from ..attention.eca import ECA
from ..attention.se import SE
from ..validation import AttnzooError
from .resnet import BasicBlock, Bottleneck, ResNet

# A source block's attention, told by its tensor names (timm's SEModule, EcaModule).
SOURCE_ATTENTION: dict[frozenset[str], type[nn.Module]] = {
    frozenset({"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}): SE,
    frozenset({"conv.weight"}): ECA,
}
SHOWN = 2  # tensor names an error message quotes


@dataclass(frozen=True)
class PretrainedReport:
    """What a pretrained load did: the model's tensors ``loaded`` from ``source`` and those left
    ``fresh`` (state_dict names; BatchNorm's ``num_batches_tracked`` counters are left out), and
    the source's tensors ``ignored``. ``whole``: the source and the model are the same network."""

    source: str
    loaded: tuple[str, ...]
    fresh: tuple[str, ...]
    ignored: tuple[str, ...]

    @property
    def whole(self) -> bool:
        return not self.fresh and not self.ignored

    def __str__(self) -> str:
        kind = "whole" if self.whole else "backbone"
        return (
            f"{self.source} ({kind}): {len(self.loaded)} tensors loaded, {len(self.fresh)} left "
            f"fresh, {len(self.ignored)} of the source's ignored"
        )


def _stem_names(stem: nn.Sequential) -> dict[str, str]:
    convs = [i for i, m in enumerate(stem) if isinstance(m, nn.Conv2d)]
    norms = [i for i, m in enumerate(stem) if isinstance(m, nn.BatchNorm2d)]
    if len(convs) == 1:
        return {"conv1": f"stem.{convs[0]}", "bn1": f"stem.{norms[0]}"}
    # timm's deep stem: conv1 is a Sequential laid out as ours, its last BN is bn1
    names = {f"conv1.{i}": f"stem.{i}" for i in convs + norms[:-1]}
    return names | {"bn1": f"stem.{norms[-1]}"}


def _block_names(block: nn.Module) -> dict[str, str]:
    """The residual branch's layers by their torchvision names (conv1, bn1, ...)."""
    last = len(block.residual) - 1
    if isinstance(block, BasicBlock):
        roles = {"conv1": 0, "bn1": 1, "conv2": 3, "bn2": 4}
    else:
        roles = {"conv1": 0, "bn1": 1, "conv3": last - 1, "bn3": last}
        if isinstance(block.residual[3], nn.Conv2d):  # not replaced by a conv-placed module
            roles |= {"conv2": 3, "bn2": 4}
    names = {role: f"residual.{index}" for role, index in roles.items()}
    if isinstance(block.shortcut, nn.Sequential):
        names |= {f"downsample.{i}": f"shortcut.{i}" for i in range(len(block.shortcut))}
    return names


def _source_attention(tensors: dict[str, torch.Tensor]) -> type[nn.Module] | None:
    first = re.compile(r"layer1\.0\.se\.(.+)$")
    found = frozenset(m.group(1) for k in tensors if (m := first.match(k)))
    return SOURCE_ATTENTION.get(found)


def source_names(model: ResNet, attention: type[nn.Module] | None) -> dict[str, str]:
    """torchvision/timm module name -> the model's, for every module with a counterpart there;
    a block's ``se`` maps to its ``attn`` where that is an ``attention`` module."""
    names = _stem_names(model.stem) | {"fc": "fc"}
    for s, stage in enumerate(model.stages):
        for b, block in enumerate(stage):
            source, own = f"layer{s + 1}.{b}", f"stages.{s}.{b}"
            names |= {f"{source}.{k}": f"{own}.{v}" for k, v in _block_names(block).items()}
            if attention is not None and isinstance(block.attn, attention):
                names[f"{source}.se"] = f"{own}.attn"
    return names


def _target(key: str, names: dict[str, str]) -> str | None:
    module, _, tensor = key.rpartition(".")
    while module:
        if module in names:
            return f"{names[module]}.{tensor}"
        module, _, last = module.rpartition(".")
        tensor = f"{last}.{tensor}"
    return None


def check_resnet(model: nn.Module) -> None:
    blocks = [b for stage in getattr(model, "stages", ()) for b in stage]
    if not isinstance(model, ResNet) or not all(
        isinstance(b, (BasicBlock, Bottleneck)) for b in blocks
    ):
        raise AttnzooError(
            f"{getattr(model, 'name', type(model).__name__)}: torchvision and timm weights load "
            "into the post-activation ImageNet ResNets (resnet*, resnext*, wide_resnet*); see "
            "attnzoo list --pretrained"
        )


def _misfit(source: str, model: ResNet, missing: list[str], wrong: list[str]) -> ValueError:
    detail = f"wrong shape: {', '.join(wrong[:SHOWN])}; " if wrong else ""
    return ValueError(
        f"{source} does not fit {model.name}: {len(missing)} backbone tensors have no counterpart "
        f"({detail}e.g. {', '.join(missing[:SHOWN])}); another depth, stem or width? see "
        "attnzoo list --pretrained"
    )


def place(
    model: ResNet,
    tensors: dict[str, torch.Tensor],
    source: str,
    attention: Sequence[type[nn.Module]] = (),
    strict: bool = False,
) -> PretrainedReport:
    """Load ``tensors`` (torchvision/timm names) into ``model``; ``attention``: the classes of
    its attention modules, whose tensors (and the head's, if of another size) may stay fresh.
    ``strict``: a source tensor left unplaced (but a head of another size) is an error."""
    check_resnet(model)
    names = source_names(model, _source_attention(tensors))
    own = model.state_dict()
    placed, ignored, wrong = {}, [], []
    for key, value in tensors.items():
        target = _target(key, names)
        if target in own and own[target].shape == value.shape:
            placed[target] = value
        else:
            ignored.append(key)
            if target in own:
                wrong.append(f"{key} {tuple(value.shape)} for {target} {tuple(own[target].shape)}")
    fresh = [k for k in own if k not in placed and not k.endswith("num_batches_tracked")]
    kinds = (AttentionModule, *attention) if attention else (AttentionModule,)
    optional = tuple(f"{n}." for n, m in model.named_modules() if isinstance(m, kinds))
    backbone = [k for k in fresh if not k.startswith((*optional, "fc."))]
    if backbone:
        raise _misfit(source, model, backbone, [w for w in wrong if not w.startswith("fc.")])
    new_head = "fc.weight" in fresh
    unplaced = [k for k in ignored if not (new_head and k.startswith("fc."))]
    if strict and unplaced:
        raise AttnzooError(
            f"{source}: {len(unplaced)} of its tensors have no place in {model.name} with "
            f"pretrained_strict=True (e.g. {', '.join(unplaced[:SHOWN])})"
        )
    model.load_state_dict(placed, strict=False)
    loaded = tuple(k for k in placed if not k.endswith("num_batches_tracked"))
    return PretrainedReport(source, loaded, tuple(fresh), tuple(ignored))
