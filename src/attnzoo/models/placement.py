"""Where attention modules go in a backbone.

``create_model(..., attention=...)`` takes one module name, or a list whose items are names,
``(name, options)`` pairs or ``(name, placement)`` pairs (combinations such as ``["se", "ba2m"]``,
the BA2M paper's Table VI). Two placements exist:

* ``"block"``: inside every block (of the chosen ``stages``, if given), on the branch that the
  block adds or concatenates, after its last normalisation (each family's docstring says where);
* ``"stage"``: after each chosen stage; ``stages`` picks them, 1-based as the BA2M paper's Table
  XIII counts ResNet-50's four stages, e.g. ``stages=(2, 4)``;
* ``"conv"``: in place of each block's 3x3 convolution, for modules that are convolutions
  themselves (selective kernels, attention-augmented and self-attention convolutions). Such a
  class is built as ``cls(in_channels, out_channels=..., stride=..., groups=..., **options)``.

Without a placement a module goes where its class says (``default_placement``,
``default_stages``); a class lists the placements it can take in ``placements``. Backbones never
know a module by name: they ask the plan for a layer factory inside their blocks, and
:class:`~attnzoo.models.base.StagedNet` asks it for the module after each stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..attention import build_attention, get_attention_class

LayerFactory = Callable[[int], nn.Module]
# (in_channels, out_channels, stride, groups) -> a module in place of a block's 3x3 convolution.
ConvFactory = Callable[[int, int, int, int], nn.Module]
AttentionItem = str | tuple[str, dict[str, Any]] | tuple[str, str]
AttentionSpec = AttentionItem | Sequence[AttentionItem] | None

PLACEMENTS = ("block", "stage", "conv")
DEFAULT_PLACEMENTS = ("block", "stage")  # what a class takes unless it lists its `placements`
ITEM_FORM = (
    "a name, a (name, options) pair or a (name, placement) pair, e.g. "
    "['se', ('ba2m', {'placement': 'stage', 'stages': (2, 4), 'tau': 0.5})]"
)


@dataclass(frozen=True)
class AttentionEntry:
    name: str
    options: dict[str, Any]
    placement: str  # "block" or "stage"
    stages: tuple[int, ...] | str  # 1-based stage numbers, or the class's "all" / "all_but_last"

    def build(self, channels: int) -> nn.Module:
        return build_attention(self.name, channels, **self.options)

    def in_stage(self, number: int) -> bool:
        """For block modules: whether the blocks of stage ``number`` get one."""
        return not isinstance(self.stages, tuple) or number in self.stages

    def after_stage(self, number: int, num_stages: int) -> bool:
        if self.placement != "stage":
            return False
        if self.stages == "all":
            return True
        if self.stages == "all_but_last":
            return number < num_stages
        return number in self.stages


def _layer(entries: list[AttentionEntry], channels: int) -> nn.Module:
    if not entries:
        return nn.Identity()
    if len(entries) == 1:
        return entries[0].build(channels)
    return nn.Sequential(*(entry.build(channels) for entry in entries))


@dataclass(frozen=True)
class AttentionPlan:
    entries: tuple[AttentionEntry, ...] = ()

    def block_layer(self, number: int) -> LayerFactory:
        """Factory for the module inside each block of stage ``number`` (1-based): the identity,
        one module, or several in turn.

        Every block type takes this one callable, so a new attention module needs no backbone
        change.
        """
        chosen = [e for e in self.entries if e.placement == "block" and e.in_stage(number)]
        return lambda channels: _layer(chosen, channels)

    def conv_layer(self) -> ConvFactory | None:
        """Factory for the module replacing each block's 3x3 convolution, or None to keep it."""
        chosen = [e for e in self.entries if e.placement == "conv"]
        if not chosen:
            return None
        if len(chosen) > 1:
            raise ValueError(
                f"only one module can replace a block's convolution; got {[e.name for e in chosen]}"
            )
        entry = chosen[0]
        return lambda cin, cout, stride, groups: build_attention(
            entry.name, cin, out_channels=cout, stride=stride, groups=groups, **entry.options
        )

    def check_conv_placed(self, model: nn.Module, name: str) -> None:
        """Refuse a backbone whose blocks had no convolution for a ``"conv"`` module to replace."""
        for entry in self.entries:
            kind = get_attention_class(entry.name)
            if entry.placement == "conv" and not any(isinstance(m, kind) for m in model.modules()):
                raise ValueError(
                    f"{name} has no block convolution that {entry.name} can replace "
                    "(conv placement needs bottleneck blocks)"
                )

    def stage_layers(self, stage_channels: Sequence[int], model: str) -> nn.ModuleList:
        """The module after each stage (the identity where none goes), given each stage's width."""
        num_stages = len(stage_channels)
        for entry in self.entries:
            if isinstance(entry.stages, tuple) and max(entry.stages) > num_stages:
                raise ValueError(
                    f"{model} has {num_stages} stages, numbered 1 to {num_stages}; "
                    f"{entry.name} was asked for stages={entry.stages}"
                )
        return nn.ModuleList(
            _layer([e for e in self.entries if e.after_stage(number, num_stages)], channels)
            for number, channels in enumerate(stage_channels, start=1)
        )

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]


def _stages(name: str, stages: object) -> tuple[int, ...]:
    if isinstance(stages, int) and not isinstance(stages, bool):
        stages = (stages,)
    if (
        not isinstance(stages, (list, tuple))
        or not stages
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in stages)
    ):
        raise ValueError(
            f"{name}: stages must be a non-empty list of stage numbers counted from 1, "
            f"e.g. (2, 4); got {stages!r}"
        )
    return tuple(sorted(set(stages)))


def _entry(name: str, options: dict[str, Any]) -> AttentionEntry:
    options = dict(options)
    cls = get_attention_class(name)
    allowed = getattr(cls, "placements", DEFAULT_PLACEMENTS)
    placement = options.pop("placement", None) or getattr(cls, "default_placement", "block")
    stages = options.pop("stages", None)
    if placement not in PLACEMENTS:
        raise ValueError(f"{name}: unknown placement {placement!r}; valid: {', '.join(PLACEMENTS)}")
    if placement not in allowed:
        raise ValueError(
            f"{name} cannot be placed at {placement!r}; it takes: {', '.join(allowed)}"
        )
    if stages is not None and placement == "conv":
        raise ValueError(f"{name}: stages={stages!r} does not apply to conv placement")
    stages = getattr(cls, "default_stages", "all") if stages is None else _stages(name, stages)
    entry = AttentionEntry(name, options, placement, stages)
    entry.build(64)  # validates the options with a clear error before the backbone is built
    return entry


def _item(item: object) -> tuple[str, dict[str, Any]]:
    if isinstance(item, str):
        return item, {}
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        if isinstance(item[1], dict):
            return item[0], item[1]
        if isinstance(item[1], str):
            return item[0], {"placement": item[1]}
    raise ValueError(f"each attention item must be {ITEM_FORM}; got {item!r}")


def _is_pair(attention: object) -> bool:
    return (
        isinstance(attention, tuple)
        and len(attention) == 2
        and isinstance(attention[0], str)
        and (isinstance(attention[1], dict) or attention[1] in PLACEMENTS)
    )


def plan_attention(
    attention: AttentionSpec,
    placement: str | None = None,
    stages: Sequence[int] | int | None = None,
    **options: Any,
) -> AttentionPlan:
    """Turn the ``attention`` argument of ``create_model`` into an :class:`AttentionPlan`.

    ``placement``, ``stages`` and keyword options go with a single module name; with a list, give
    each module its own in its pair: ``("ba2m", {"placement": "stage", "stages": (2, 4)})``.
    Names, placements and options are checked here, before any layer is built.
    """
    if placement is not None:
        options["placement"] = placement
    if stages is not None:
        options["stages"] = stages
    if attention is None or attention == "none":
        if options:
            raise ValueError(f"attention options {sorted(options)} given without an attention")
        return AttentionPlan()
    if isinstance(attention, str):
        items = [(attention, options)]
    else:
        if options:
            raise ValueError(
                f"options {sorted(options)} go with a single attention name; with a list, "
                f"give each module its options as {ITEM_FORM}"
            )
        if not isinstance(attention, (list, tuple)):
            raise ValueError(f"attention must be None, {ITEM_FORM}, or a list of them")
        items = [_item(attention)] if _is_pair(attention) else [_item(a) for a in attention]
    return AttentionPlan(tuple(_entry(name, item_options) for name, item_options in items))
