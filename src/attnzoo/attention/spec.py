"""The one grammar of attention specs, for the Python API, config files and every command.

**One model's attention** (``create_model(attention=...)``, a config's ``attention:``,
``attnzoo train --attention``) is written as:

* a registered module name: ``"ba2m"`` (``attnzoo list`` names them);
* names joined by ``+``, the modules together in one network: ``"se+ba2m"``;
* ``(name, options)``: one module with its options, ``("ba2m", {"tau": 0.5})``. Two options say
  where it goes: ``placement`` (``"block"``: inside every block; ``"stage"``: after a stage;
  ``"conv"``: in place of each block's 3x3 convolution) and ``stages`` (1-based stage numbers,
  ``[2, 4]``, or ``"all"``, ``"all_but_first"``, ``"all_but_last"``);
* an ``nn.Module`` class, or a ``functools.partial`` of one, wherever a name goes: ``SE``,
  ``partial(BA2M, tau=0.5)``, ``(SE, {"reduction": 8})`` (as timm's ``get_attn``);
* a list of these, each module placed in its own stages:
  ``["se", ("ba2m", {"placement": "stage", "stages": [2, 4]})]``;
* ``None``, ``"none"``, ``""`` or ``[]``: the plain backbone.

A module given no placement goes where its class declares (``default_placement`` and
``default_stages``, the hooks of :class:`~attnzoo.attention.base.AttentionModule`).
``create_model``'s ``placement`` and ``stages`` keywords are the same two options for a spec of
one module. :func:`parse_attention` reads every form into one tuple of :class:`ModuleSpec`,
checking names, placements, stages and option names before any layer is built; anything else is
one ValueError that names the forms.

**In text** (command lines, config files) a spec is a string of names, and options attach apart:

* ``,`` separates settings, the models a sweep or a benchmark compares: ``none,se,se+ba2m`` is
  three models. ``attnzoo sweep``/``bench --attention se,ba2m`` compare two models; ``attnzoo
  train``/``complexity --attention se,ba2m`` is refused (one model there: write ``se+ba2m``);
* ``--option MODULE.KEY=VALUE`` (``ba2m.tau=0.5``), or ``KEY=VALUE`` when the setting has one
  module. A value is read as YAML (``0.5``, ``1e-3``, ``[2, 3]``, ``true``), and a bare comma
  list is a list: ``stages=2,3`` is ``stages=[2, 3]``;
* in a config file, ``attention:`` is one setting (``se+ba2m``, or a list of names
  ``[se, ba2m]``) and ``attention_options:`` the options by module (``{ba2m: {tau: 0.5,
  placement: stage}}``); a ``sweep:`` section's ``attention:`` is a list of settings
  (``[none, se, se+ba2m]``) or one comma-separated string.

:func:`spec_name` names a setting as run directories, tables and summaries show it: ``se+ba2m``,
or ``none``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import yaml
from torch import nn

from ..validation import AttnzooError
from .base import PLACEMENTS, STAGE_SETS, check_option_names, hook_class, module_class
from .registry import get_attention_class, list_attention

NONE = "none"
FORMS = (
    "a module name ('se'), names joined by '+' ('se+ba2m'), a (name, options) pair such as "
    "('ba2m', {'tau': 0.5, 'placement': 'stage'}), an nn.Module class or a functools.partial of "
    "one, or a list of these"
)
# A comma list of plain scalars such as "2,3" or "0.5, 1": read as a YAML flow sequence.
_COMMA_LIST = re.compile(r"^[^\[\]{}\"',]+(,[^\[\]{}\"',]+)+$")
# Numbers that YAML 1.1 (PyYAML) leaves as strings, such as 1e-3 (it wants 1.0e-3).
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")

Factory = type[nn.Module] | partial
Module = str | Factory
AttentionSpec = Module | tuple[Module, dict[str, Any]] | list[Any] | None


@dataclass(frozen=True)
class ModuleSpec:
    """One module of a parsed spec: what to build and where it goes."""

    name: str  # the registered name, or the class name of an unregistered module
    factory: Factory  # a module class, or a functools.partial of one
    options: dict[str, Any]
    placement: str  # "block", "stage" or "conv"
    stages: tuple[int, ...] | str  # 1-based stage numbers, or one of STAGE_SETS

    def build(self, channels: int, **conv_args: int) -> nn.Module:
        """The module for ``channels`` channels; an invalid option at this width is a ValueError
        naming the module and the width."""
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise AttnzooError(f"{self.name}: channels must be a positive int, got {channels!r}")
        try:
            return self.factory(channels, **conv_args, **self.options)
        except ValueError as error:
            raise AttnzooError(f"{self.name} at {channels} channels: {error}") from error

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
        """Whether stage ``number`` (1-based) of ``num_stages`` is among the module's stages."""
        if isinstance(self.stages, tuple):
            return number in self.stages
        if self.stages == "all_but_first":
            return number > 1
        if self.stages == "all_but_last" and num_stages is not None:
            return number < num_stages
        return True


def parse_attention(
    attention: AttentionSpec,
    placement: str | None = None,
    stages: Sequence[int] | int | str | None = None,
) -> tuple[ModuleSpec, ...]:
    """Every form of the module docstring as one tuple of :class:`ModuleSpec`, checked.

    ``placement`` and ``stages`` go with a spec of one module (``create_model``'s keywords).
    """
    items = _items(attention)
    where = {k: v for k, v in (("placement", placement), ("stages", stages)) if v is not None}
    if where and not items:
        raise AttnzooError(f"attention: {sorted(where)} given without an attention")
    if where and len(items) > 1:
        raise AttnzooError(
            f"attention: {sorted(where)} given for {len(items)} modules; the keywords place one "
            "module: give each module of a list its own in a (name, options) pair, such as "
            "('ba2m', {'placement': 'stage', 'stages': [2, 4]})"
        )
    if where:
        module, options = items[0]
        twice = sorted(set(where) & set(options))
        if twice:
            raise AttnzooError(f"attention: {twice} given both in the spec and as keywords")
        items = [(module, {**options, **where})]
    return tuple(_module_spec(module, options) for module, options in items)


def _is_factory(item: object) -> bool:
    """Whether ``item`` is an ``nn.Module`` class or a ``functools.partial`` of one."""
    try:
        module_class(item)
    except ValueError:
        return False
    return True


def _items(attention: object) -> list[tuple[Module, dict[str, Any]]]:
    """The (module, options) pairs of a spec, in order."""
    if attention is None:
        return []
    if isinstance(attention, list):
        return [pair for item in attention for pair in _item(item)]
    return _item(attention)


def _item(item: object) -> list[tuple[Module, dict[str, Any]]]:
    """The pairs of one item of a spec: a name, class or partial has no options."""
    if isinstance(item, str):
        return [(name, {}) for name in parse_setting(item)]
    if _is_factory(item):
        return [(item, {})]
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], dict):
        module, options = item
        if _is_factory(module):
            return [(module, options)]
        names = parse_setting(module) if isinstance(module, str) else []
        if len(names) == 1:  # one module: the options of "se+ba2m" would have no owner
            return [(names[0], options)]
    raise AttnzooError(f"attention: {item!r} is none of the forms: {FORMS}")


def _resolve(module: Module) -> tuple[str, Factory]:
    """The display name and factory of a module given by name, class or partial."""
    if isinstance(module, str):
        return module, get_attention_class(module)
    cls = module_class(module)
    registered = [n for n in list_attention() if get_attention_class(n) is cls]
    return (registered[0] if registered else cls.__name__), module


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
        raise AttnzooError(
            f"{name}: stages must be a non-empty list of stage numbers counted from 1, "
            f"e.g. (2, 4), or one of {', '.join(STAGE_SETS)}; got {stages!r}"
        )
    return tuple(sorted(set(stages)))


def _module_spec(module: Module, options: dict[str, Any]) -> ModuleSpec:
    """Check a module's placement, stages and option names against its declared hooks."""
    name, factory = _resolve(module)
    options = dict(options)
    declared = hook_class(factory)
    placement = options.pop("placement", None) or declared.default_placement
    stages = options.pop("stages", None)
    if placement not in PLACEMENTS:
        raise AttnzooError(
            f"{name}: unknown placement {placement!r}; valid: {', '.join(PLACEMENTS)}"
        )
    if placement not in declared.placements:
        raise AttnzooError(
            f"{name} cannot be placed at {placement!r}; it takes: {', '.join(declared.placements)}"
        )
    if stages is None:  # the declared stages go with the declared placement
        stages = declared.default_stages if placement == declared.default_placement else "all"
    else:
        stages = _stages(name, stages)
    if stages == "all_but_last" and placement != "stage":
        raise AttnzooError(f"{name}: stages='all_but_last' applies to stage placement only")
    if stages not in STAGE_SETS and not isinstance(stages, tuple):
        raise AttnzooError(f"{name}: default_stages must be one of {STAGE_SETS} or a tuple")
    check_option_names(name, factory, options)
    return ModuleSpec(name, factory, options, placement, stages)


def _names(text: str, context: str) -> list[str]:
    text = text.strip()
    if text in ("", NONE):
        return []
    names = [name.strip() for name in text.split("+")]
    if not all(names):
        raise AttnzooError(f"{context}{text!r}: an empty module name; combine modules as se+ba2m")
    return names


def parse_setting(value: str | Sequence[str] | None, context: str = "attention ") -> list[str]:
    """One setting as a list of module names: ``"se+ba2m"`` or ``["se", "ba2m"]`` ->
    ``["se", "ba2m"]``; ``None``, ``"none"``, ``""`` and ``[]`` -> ``[]``.

    A comma is refused: it separates settings, and this is one model.
    """
    if value is None:
        return []
    if isinstance(value, str):
        if "," in value:
            joined = "+".join(n.strip() for n in value.split(",") if n.strip())
            raise AttnzooError(
                f"{context}{value!r} is several settings, one model is wanted here: combine "
                f"modules with '+' ({joined}); ',' separates settings (sweep, bench)"
            )
        return _names(value, context)
    names = [str(v) for v in value]
    return [] if names == [NONE] else names


def parse_settings(
    value: str | Iterable[Any] | None, context: str = "attention "
) -> list[list[str]]:
    """A list of settings: ``"none,se,se+ba2m"`` or ``["none", "se", "se+ba2m"]`` (an item may
    also be a list of module names) -> ``[[], ["se"], ["se", "ba2m"]]``."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [parse_setting(item, context) for item in items]


def spec_name(spec: Iterable[Any]) -> str:
    """The name of a setting: ``"se+ba2m"``, or ``"none"`` for the plain backbone.

    ``spec`` holds module names or ``(name, options)`` pairs (``create_model``'s ``attention``).
    """
    names = [item if isinstance(item, str) else item[0] for item in spec]
    return "+".join(names) or NONE


def parse_value(text: str) -> Any:
    """A command-line value as YAML, with a bare comma list read as a list (``2,3`` -> [2, 3])."""
    if _COMMA_LIST.match(text.strip()):
        text = f"[{text}]"
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # not YAML (e.g. "a: b: c"): the string itself, checked against its type
    if isinstance(value, list):
        return [float(v) if isinstance(v, str) and _FLOAT.match(v) else v for v in value]
    return float(value) if isinstance(value, str) and _FLOAT.match(value) else value


def key_value(item: str, flag: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as ``(KEY, value)``, the value read by :func:`parse_value`."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise AttnzooError(f"{flag} {item!r}: expected KEY=VALUE")
    return key, parse_value(value)


def parse_options(
    names: Sequence[str], items: Iterable[str], flag: str = "--option"
) -> dict[str, dict[str, Any]]:
    """``[MODULE.]KEY=VALUE`` strings as per-module option dicts for the setting ``names``."""
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        key, value = key_value(item, flag)
        module, dot, key = key.rpartition(".")
        if not dot:
            if len(names) != 1:
                raise AttnzooError(
                    f"{flag} {item!r}: name the module (MODULE.KEY=VALUE) "
                    f"when the attention is {spec_name(names)}"
                )
            module = names[0]
        options.setdefault(module, {})[key] = value
    return options
