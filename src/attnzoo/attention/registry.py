"""Name-to-class factory for attention modules, in the manner of timm's ``create_attn``.

Every module takes ``channels`` as its first positional argument and maps (N, C, H, W) to the same
shape. Where it goes in a backbone, and what the trainer and :func:`attnzoo.deploy` ask of it, is
declared through the hooks of :class:`~attnzoo.attention.base.AttentionModule`, so no backbone
needs to know a module by name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from torch import nn

from ..validation import AttnzooError
from .base import check_option_names, hook_class, option_names

_REGISTRY: dict[str, type[nn.Module]] = {}

M = TypeVar("M", bound=type[nn.Module])


def register_attention(name: str) -> Callable[[M], M]:
    """Class decorator that makes a module available to :func:`build_attention` as ``name``."""

    def decorator(cls: M) -> M:
        if name in _REGISTRY:
            raise AttnzooError(f"attention {name!r} is already registered")
        _REGISTRY[name] = cls
        return cls

    return decorator


def list_attention() -> list[str]:
    """Names of all registered attention modules, sorted."""
    return sorted(_REGISTRY)


def get_attention_class(name: str) -> type[nn.Module]:
    """The class registered as ``name``; a ValueError lists the valid names otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise AttnzooError(
            f"unknown attention {name!r}; valid names: {', '.join(list_attention())}"
        ) from None


def build_attention(name: str, channels: int, **options) -> nn.Module:
    """Build the attention module ``name`` for feature maps with ``channels`` channels.

    Unknown names and unknown options raise a ValueError that lists the valid ones.
    """
    cls = get_attention_class(name)
    check_option_names(name, cls, options)
    if not isinstance(channels, int) or channels < 1:
        raise AttnzooError(f"attention {name!r}: channels must be a positive int, got {channels!r}")
    return cls(channels, **options)


@dataclass(frozen=True)
class OptionDoc:
    name: str
    type: str  # the annotation as written
    default: str  # repr of the default, or "required"
    meaning: str  # the module's declared one-line meaning (its option_help), or ""


def describe_options(name: str) -> list[OptionDoc]:
    """Each option of the module registered as ``name``: its type and default from the
    signature, and its meaning as the class declares it in ``option_help``; one source for
    ``attnzoo list MODULE`` and docs/modules.md's options tables."""
    cls = get_attention_class(name)
    meanings = hook_class(cls).option_help
    params = inspect.signature(cls.__init__).parameters
    out = []
    for option in option_names(cls):
        param = params[option]
        default = "required" if param.default is param.empty else repr(param.default)
        kind = param.annotation if isinstance(param.annotation, str) else str(param.annotation)
        out.append(OptionDoc(option, kind, default, meanings.get(option, "")))
    return out
