"""Where attention modules go in a backbone.

``create_model(..., attention=...)`` takes one name, or a list whose items are names or
``(name, options)`` pairs (combinations such as ``["se", "ba2m"]``, the BA2M paper's Table VI). Each
module goes where its class says by default (``default_placement`` and ``default_stages``, see
:mod:`attnzoo.attention.registry`), so backbones never know a module by name: they ask the plan for
a layer factory inside their blocks and after each stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..attention import build_attention, get_attention_class

LayerFactory = Callable[[int], nn.Module]
AttentionSpec = str | tuple[str, dict[str, Any]] | Sequence[str | tuple[str, dict[str, Any]]] | None


@dataclass(frozen=True)
class AttentionEntry:
    name: str
    options: dict[str, Any]
    placement: str  # "block" or "stage"
    stages: str  # for stage modules: "all" or "all_but_last"

    def build(self, channels: int) -> nn.Module:
        return build_attention(self.name, channels, **self.options)


def _factory(entries: list[AttentionEntry]) -> LayerFactory | None:
    if not entries:
        return None
    if len(entries) == 1:
        return entries[0].build
    return lambda channels: nn.Sequential(*(entry.build(channels) for entry in entries))


@dataclass(frozen=True)
class AttentionPlan:
    entries: tuple[AttentionEntry, ...] = ()

    def block_layer(self) -> LayerFactory | None:
        """Factory for the module inside each residual block (several run in sequence)."""
        return _factory([e for e in self.entries if e.placement == "block"])

    def stage_layer(self, index: int, num_stages: int) -> LayerFactory | None:
        """Factory for the module after stage ``index`` (0-based) of ``num_stages``."""
        chosen = [
            e
            for e in self.entries
            if e.placement == "stage" and (e.stages == "all" or index < num_stages - 1)
        ]
        return _factory(chosen)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]


PAIR_FORM = "a name or a (name, options) pair, e.g. [('se', {}), ('ba2m', {'tau': 0.5})]"


def _is_pair(item: object) -> bool:
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], dict)
    )


def plan_attention(attention: AttentionSpec, **options: Any) -> AttentionPlan:
    """Turn the ``attention`` argument of ``create_model`` into an :class:`AttentionPlan`.

    Keyword options go with a single module name; otherwise give each module its options as a
    ``(name, options)`` pair. Names and options are checked here, before any layer is built.
    """
    if attention is None or attention == "none":
        if options:
            raise ValueError(f"attention options {sorted(options)} given without an attention")
        return AttentionPlan()
    if isinstance(attention, str):
        items = [(attention, options)]
    else:
        if options:
            raise ValueError(
                f"keyword options {sorted(options)} go with a single attention name; with pairs "
                f"or a list, give each module its options as {PAIR_FORM}"
            )
        if not isinstance(attention, (list, tuple)):
            raise ValueError(f"attention must be None, {PAIR_FORM}, or a list of them")
        items = [attention] if _is_pair(attention) else list(attention)
        items = [(item, {}) if isinstance(item, str) else item for item in items]
        bad = next((item for item in items if not _is_pair(item)), None)
        if bad is not None:
            raise ValueError(f"each attention item must be {PAIR_FORM}; got {bad!r}")
    entries = []
    for name, item_options in items:
        cls = get_attention_class(name)
        placement = getattr(cls, "default_placement", "block")
        stages = getattr(cls, "default_stages", "all")
        entry = AttentionEntry(name, dict(item_options), placement, stages)
        entry.build(64)  # validates the options with a clear error before the backbone is built
        entries.append(entry)
    return AttentionPlan(tuple(entries))
