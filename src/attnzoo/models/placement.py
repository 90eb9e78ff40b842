"""Where attention modules go in a backbone.

``create_model(..., attention=...)`` takes one module, or a list of them (combinations such as
``["se", "ba2m"]``, the BA2M paper's Table VI). A module is given as a registered name, a module
class or a ``functools.partial`` of one (as timm's ``get_attn``), alone or in a ``(module,
options)`` or ``(module, placement)`` pair. Three placements exist:

* ``"block"``: inside every block (of the chosen ``stages``, if given), on the branch that the
  block adds or concatenates, after its last normalisation (each family's docstring says where);
* ``"stage"``: after each chosen stage; ``stages`` picks them, 1-based as the BA2M paper's Table
  XIII counts ResNet-50's four stages, e.g. ``stages=(2, 4)``;
* ``"conv"``: in place of each block's 3x3 convolution (in the chosen ``stages``), for modules
  that are convolutions themselves (selective kernels, attention-augmented and self-attention
  convolutions). Such a
  class is built as ``cls(in_channels, out_channels=..., stride=..., groups=..., **options)``,
  and told the side of the map it sees where its ``feature_size_option`` hook names an option
  (AA's relative-position tables, sized per layer as its paper).

Without a placement a module goes where its class declares (the hooks of
:class:`~attnzoo.attention.base.AttentionModule`: ``default_placement``, ``default_stages``,
``placements``). Option names are checked here against the module's signature; the values are
checked by the module itself when the backbone builds it at its real width, and an error there
names the module and that width. Backbones never know a module by name: they ask the plan for a
layer factory inside their blocks, and :class:`~attnzoo.models.base.StagedNet` asks it for the
module after each stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from torch import nn

from ..attention import get_attention_class, list_attention
from ..attention.base import (
    PLACEMENTS,
    STAGE_SETS,
    AttentionFactory,
    check_option_names,
    hooks,
    module_class,
    option_names,
)

LayerFactory = Callable[[int], nn.Module]
# (in_channels, out_channels, stride, groups) -> a module in place of a block's 3x3 convolution.
ConvFactory = Callable[[int, int, int, int], nn.Module]
AttentionModuleSpec = str | AttentionFactory
AttentionItem = (
    AttentionModuleSpec
    | tuple[AttentionModuleSpec, dict[str, Any]]
    | tuple[AttentionModuleSpec, str]
)
AttentionSpec = AttentionItem | Sequence[AttentionItem] | None

ITEM_FORM = (
    "a name, a (name, options) pair or a (name, placement) pair, where a module class or a "
    "functools.partial of one may stand for a name, e.g. "
    "['se', ('ba2m', {'placement': 'stage', 'stages': (2, 4), 'tau': 0.5})]"
)


@dataclass(frozen=True)
class AttentionEntry:
    name: str  # the registered name, or the class name of an unregistered module
    factory: AttentionFactory  # a module class, or a functools.partial of one
    options: dict[str, Any]
    placement: str  # "block", "stage" or "conv"
    stages: tuple[int, ...] | str  # 1-based stage numbers, or one of STAGE_SETS

    def build(self, channels: int, **conv_args: int) -> nn.Module:
        """The module for ``channels`` channels; an invalid option at this width is a ValueError
        naming the module and the width."""
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"{self.name}: channels must be a positive int, got {channels!r}")
        try:
            return self.factory(channels, **conv_args, **self.options)
        except ValueError as error:
            raise ValueError(f"{self.name} at {channels} channels: {error}") from error

    def given_options(self) -> dict[str, Any]:
        """The options the user set: those given with the module and those bound in its
        ``functools.partial`` (the outer partial's win, as calling it does)."""
        bound: dict[str, Any] = {}
        factory = self.factory
        while isinstance(factory, partial):
            bound = {**factory.keywords, **bound}
            factory = factory.func
        return {**bound, **self.options}

    def in_stage(self, number: int, num_stages: int | None = None) -> bool:
        """Whether stage ``number`` (1-based) of ``num_stages`` is among the entry's stages."""
        if isinstance(self.stages, tuple):
            return number in self.stages
        if self.stages == "all_but_first":
            return number > 1
        if self.stages == "all_but_last" and num_stages is not None:
            return number < num_stages
        return True

    def after_stage(self, number: int, num_stages: int) -> bool:
        return self.placement == "stage" and self.in_stage(number, num_stages)


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

    def conv_layer(
        self, feature_size: int | None = None, number: int | None = None
    ) -> ConvFactory | None:
        """Factory for the module replacing each block's 3x3 convolution in stage ``number``
        (1-based; None: in any stage), or None to keep the convolution.

        ``feature_size``: the side of the map the module sees (its output's, at the input size
        the backbone is built for); it goes to the option the class names in its
        ``feature_size_option`` hook, unless the user gave that option.
        """
        chosen = [
            e
            for e in self.entries
            if e.placement == "conv" and (number is None or e.in_stage(number))
        ]
        if not chosen:
            return None
        if len(chosen) > 1:
            raise ValueError(
                f"only one module can replace a block's convolution; got {[e.name for e in chosen]}"
            )
        entry = chosen[0]
        option = hooks(entry.factory).feature_size_option
        sized = {}
        if option and feature_size is not None and option not in entry.given_options():
            sized[option] = feature_size
        return lambda cin, cout, stride, groups: entry.build(
            cin, out_channels=cout, stride=stride, groups=groups, **sized
        )

    def check_conv_placed(self, model: nn.Module, name: str) -> None:
        """Refuse a backbone whose blocks had no convolution for a ``"conv"`` module to replace."""
        for entry in self.entries:
            kind = module_class(entry.factory)
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


def _stages(name: str, stages: object) -> tuple[int, ...] | str:
    """Stage numbers given by the user, or one of the named sets (``"all"``: every stage, e.g.
    GC in every block rather than its default stages 2-4)."""
    if isinstance(stages, str) and stages in STAGE_SETS:
        return stages
    if isinstance(stages, int) and not isinstance(stages, bool):
        stages = (stages,)
    if (
        not isinstance(stages, (list, tuple))
        or not stages
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in stages)
    ):
        raise ValueError(
            f"{name}: stages must be a non-empty list of stage numbers counted from 1, "
            f"e.g. (2, 4), or one of {', '.join(STAGE_SETS)}; got {stages!r}"
        )
    return tuple(sorted(set(stages)))


def _resolve(module: object) -> tuple[str, AttentionFactory]:
    """The display name and factory of a module given by name, class or partial."""
    if isinstance(module, str):
        return module, get_attention_class(module)
    cls = module_class(module)  # a ValueError for anything but a module class or partial
    registered = [n for n in list_attention() if get_attention_class(n) is cls]
    return (registered[0] if registered else cls.__name__), module


def _check_stages(name: str, placement: str, stages: object) -> None:
    if stages == "all_but_last" and placement != "stage":
        raise ValueError(f"{name}: stages='all_but_last' applies to stage placement only")
    if stages not in STAGE_SETS and not isinstance(stages, tuple):
        raise ValueError(f"{name}: default_stages must be one of {STAGE_SETS} or a tuple")


def _entry(module: object, options: dict[str, Any]) -> AttentionEntry:
    """Check a module's placement, stages and option names against its declared hooks."""
    name, factory = _resolve(module)
    options = dict(options)
    declared = hooks(factory)
    placement = options.pop("placement", None) or declared.default_placement
    stages = options.pop("stages", None)
    if placement not in PLACEMENTS:
        raise ValueError(f"{name}: unknown placement {placement!r}; valid: {', '.join(PLACEMENTS)}")
    if placement not in declared.placements:
        raise ValueError(
            f"{name} cannot be placed at {placement!r}; it takes: {', '.join(declared.placements)}"
        )
    if stages is None:  # the declared stages go with the declared placement
        stages = declared.default_stages if placement == declared.default_placement else "all"
    else:
        stages = _stages(name, stages)
    _check_stages(name, placement, stages)
    check_option_names(name, factory, options)
    return AttentionEntry(name, factory, options, placement, stages)


def _is_module(item: object) -> bool:
    return isinstance(item, (str, type, partial))


def _item(item: object) -> tuple[object, dict[str, Any]]:
    if _is_module(item):
        return item, {}
    if isinstance(item, tuple) and len(item) == 2 and _is_module(item[0]):
        if isinstance(item[1], dict):
            return item[0], item[1]
        if isinstance(item[1], str):
            return item[0], {"placement": item[1]}
    raise ValueError(f"each attention item must be {ITEM_FORM}; got {item!r}")


def _is_pair(attention: object) -> bool:
    return (
        isinstance(attention, tuple)
        and len(attention) == 2
        and _is_module(attention[0])
        and (isinstance(attention[1], dict) or attention[1] in PLACEMENTS)
    )


def single_module_options(attention: AttentionSpec) -> list[str]:
    """The option names of ``attention`` when it is one module (name, class or partial), so that
    ``create_model`` can tell attention keywords from backbone ones; empty otherwise."""
    if not _is_module(attention) or attention == "none":
        return []
    try:
        return option_names(_resolve(attention)[1])
    except ValueError:
        return []  # an unknown name: plan_attention reports it


def plan_attention(
    attention: AttentionSpec,
    placement: str | None = None,
    stages: Sequence[int] | int | None = None,
    **options: Any,
) -> AttentionPlan:
    """Turn the ``attention`` argument of ``create_model`` into an :class:`AttentionPlan`.

    ``placement``, ``stages`` and keyword options go with a single module; with a list, give
    each module its own in its pair: ``("ba2m", {"placement": "stage", "stages": (2, 4)})``.
    Names, placements and option names are checked here, before any layer is built.
    """
    if placement is not None:
        options["placement"] = placement
    if stages is not None:
        options["stages"] = stages
    if attention is None or attention == "none":
        if options:
            raise ValueError(f"attention options {sorted(options)} given without an attention")
        return AttentionPlan()
    if _is_module(attention):
        items = [(attention, options)]
    else:
        if options:
            raise ValueError(
                f"options {sorted(options)} go with a single attention name, class or partial; "
                f"with a list, give each module its options as {ITEM_FORM}"
            )
        if not isinstance(attention, (list, tuple)):
            raise ValueError(f"attention must be None, {ITEM_FORM}, or a list of them")
        items = [_item(attention)] if _is_pair(attention) else [_item(a) for a in attention]
    return AttentionPlan(tuple(_entry(module, item_options) for module, item_options in items))
