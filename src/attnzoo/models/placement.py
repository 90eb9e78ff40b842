"""Where attention modules go in a backbone: the plan that backbones ask for layers.

``create_model(..., attention=...)`` reads its spec with
:func:`~attnzoo.attention.spec.parse_attention` (the grammar, documented there once) into one
:class:`~attnzoo.attention.spec.ModuleSpec` per module, each with its placement:

* ``"block"``: inside every block (of the chosen ``stages``, if given), on the branch that the
  block adds or concatenates, after its last normalisation (each family's docstring says where);
* ``"stage"``: after each chosen stage; ``stages`` picks them, 1-based as the BA2M paper's Table
  XIII counts ResNet-50's four stages, e.g. ``stages=(2, 4)``;
* ``"conv"``: in place of each block's 3x3 convolution (in the chosen ``stages``), for modules
  that are convolutions themselves (selective kernels, attention-augmented and self-attention
  convolutions). Such a class is built as ``cls(in_channels, out_channels=..., stride=...,
  groups=..., **options)``, and told the side of the map it sees where its
  ``feature_size_option`` hook names an option (AA's relative-position tables, sized per layer
  as its paper).

Option names are checked when the spec is read; the values are checked by the module itself when
the backbone builds it at its real width, and an error there names the module and that width.
Backbones never know a module by name: they ask the plan for a layer factory inside their
blocks, and :class:`~attnzoo.models.base.StagedNet` asks it for the module after each stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from ..attention.base import hook_class, module_class
from ..attention.spec import AttentionSpec, ModuleSpec, parse_attention
from ..validation import AttnzooError

LayerFactory = Callable[[int], nn.Module]
# (in_channels, out_channels, stride, groups) -> a module in place of a block's 3x3 convolution.
ConvFactory = Callable[[int, int, int, int], nn.Module]


def _layer(entries: list[ModuleSpec], channels: int) -> nn.Module:
    if not entries:
        return nn.Identity()
    if len(entries) == 1:
        return entries[0].build(channels)
    return nn.Sequential(*(entry.build(channels) for entry in entries))


@dataclass(frozen=True)
class AttentionPlan:
    entries: tuple[ModuleSpec, ...] = ()

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
            raise AttnzooError(
                f"only one module can replace a block's convolution; got {[e.name for e in chosen]}"
            )
        entry = chosen[0]
        option = hook_class(entry.factory).feature_size_option
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
                raise AttnzooError(
                    f"{name} has no block convolution that {entry.name} can replace "
                    "(conv placement needs bottleneck blocks)"
                )

    def stage_layers(self, stage_channels: Sequence[int], model: str) -> nn.ModuleList:
        """The module after each stage (the identity where none goes), given each stage's width."""
        num_stages = len(stage_channels)
        for entry in self.entries:
            if isinstance(entry.stages, tuple) and max(entry.stages) > num_stages:
                raise AttnzooError(
                    f"{model} has {num_stages} stages, numbered 1 to {num_stages}; "
                    f"{entry.name} was asked for stages={entry.stages}"
                )
        placed = [e for e in self.entries if e.placement == "stage"]
        return nn.ModuleList(
            _layer([e for e in placed if e.in_stage(number, num_stages)], channels)
            for number, channels in enumerate(stage_channels, start=1)
        )

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]


def plan_attention(
    attention: AttentionSpec,
    placement: str | None = None,
    stages: Sequence[int] | int | str | None = None,
) -> AttentionPlan:
    """The plan of an ``attention`` spec (see :mod:`attnzoo.attention.spec`); ``placement`` and
    ``stages`` go with a spec of one module."""
    return AttentionPlan(parse_attention(attention, placement, stages))
