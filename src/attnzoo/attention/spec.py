"""The one grammar of attention specs, shared by every command, config file and the Python API.

A *setting* is the attention of one model; a *list of settings* is what a sweep or a benchmark
compares:

* ``+`` combines modules into one model: ``se+ba2m`` is SE and BA2M in the same network;
* ``,`` separates settings: ``none,se,se+ba2m`` is three models (a baseline, SE, SE with BA2M);
* ``none`` (or an empty string or list) is the empty setting: the plain backbone;
* options attach as ``MODULE.KEY=VALUE`` (``ba2m.tau=0.5``), or ``KEY=VALUE`` when the setting
  has a single module. A value is read as YAML (``0.5``, ``1e-3``, ``[2, 3]``, ``true``), and a
  bare comma list is a list: ``stages=2,3`` is ``stages=[2, 3]``.

So ``attnzoo train --attention se+ba2m`` trains one model, while ``--attention se,ba2m`` is
refused there (two settings, one run); ``attnzoo sweep``/``bench --attention se,ba2m`` compare two
models. In YAML, a config's ``attention:`` is one setting (``se+ba2m`` or a list of module names,
``[se, ba2m]``); a ``sweep:`` section's ``attention:`` is a list of settings
(``[none, se, se+ba2m]``) or one comma-separated string. :func:`spec_name` names a setting the way
run directories, tables and summaries show it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

NONE = "none"
# A comma list of plain scalars such as "2,3" or "0.5, 1": read as a YAML flow sequence.
_COMMA_LIST = re.compile(r"^[^\[\]{}\"',]+(,[^\[\]{}\"',]+)+$")
# Numbers that YAML 1.1 (PyYAML) leaves as strings, such as 1e-3 (it wants 1.0e-3).
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _names(text: str, context: str) -> list[str]:
    text = text.strip()
    if text in ("", NONE):
        return []
    names = [name.strip() for name in text.split("+")]
    if not all(names):
        raise ValueError(f"{context}{text!r}: an empty module name; combine modules as se+ba2m")
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
            raise ValueError(
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
        raise ValueError(f"{flag} {item!r}: expected KEY=VALUE")
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
                raise ValueError(
                    f"{flag} {item!r}: name the module (MODULE.KEY=VALUE) "
                    f"when the attention is {spec_name(names)}"
                )
            module = names[0]
        options.setdefault(module, {})[key] = value
    return options
