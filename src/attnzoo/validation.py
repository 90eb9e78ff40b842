"""The one type check of user settings, and the project's error type.

Both the attention modules' options (checked against their constructors' annotations) and the
training config's fields (checked against their declarations) go through :func:`coerce`; a bad
value is an :class:`AttnzooError`, which the command line prints as one line.

A leaf module: every layer may import it.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from typing import Any


class AttnzooError(ValueError):
    """A setting or input attnzoo cannot use; its message is one line that names it.

    A ValueError, so that code catching ValueError (and tests written before it) still does.
    """


_SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.Iterable)


def coerce(value: Any, hint: Any, *, numeric_strings: bool = False) -> Any:
    """``value`` checked against the annotation ``hint``, or a TypeError.

    Scalars: an int is a valid float (and is kept as given), a bool is no number; unions,
    ``Literal``, lists and tuples (items checked), dicts and mappings (keys and values checked).
    A class is checked with ``isinstance``; any other annotation (callables, ``Any``) passes.
    ``numeric_strings`` reads a string that spells a number as one where a number is declared
    (YAML 1.1, which PyYAML follows, reads ``1e-3`` as a string).
    """
    again = lambda v, h: coerce(v, h, numeric_strings=numeric_strings)  # noqa: E731
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        for option in args:
            try:
                return again(value, option)
            except (TypeError, ValueError):
                continue
        raise TypeError(hint)
    if origin is typing.Literal:
        if value in args:
            return value
        raise TypeError(hint)
    if origin in _SEQUENCES and isinstance(value, list | tuple):
        item = args[0] if args else Any  # list[int], tuple[int, ...]: every item one type
        return type(value)(again(v, item) for v in value)
    if origin in (dict, collections.abc.Mapping) and isinstance(value, collections.abc.Mapping):
        return {again(k, args[0]): again(v, args[1]) for k, v in value.items()} if args else value
    if origin is not None:
        raise TypeError(hint)
    return _scalar(value, hint, numeric_strings)


def _scalar(value: Any, hint: Any, numeric_strings: bool) -> Any:
    if hint is Any or not isinstance(hint, type):
        return value
    if hint is type(None):
        if value is None:
            return None
        raise TypeError(hint)
    if hint in (int, float) and numeric_strings and isinstance(value, str):
        return hint(value.strip())  # int("1.5") fails as it should
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return value  # kept as given, so that saved configs compare equal
    # bool is an int in Python; a YAML "true" must not pass for an epoch count.
    if isinstance(value, hint) and (hint is bool or not isinstance(value, bool)):
        return value
    raise TypeError(hint)


def fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` has the type ``hint`` declares (see :func:`coerce`)."""
    try:
        coerce(value, hint)
    except (TypeError, ValueError):
        return False
    return True
