"""Input validation shared by the attention modules: clear errors instead of deep tracebacks."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..validation import AttnzooError


def check_choice(module: str, option: str, value: object, choices: Iterable[object]) -> None:
    """Raise a ValueError naming the option and its valid values if ``value`` is not one of them."""
    choices = tuple(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise AttnzooError(f"{module}: {option}={value!r} is not valid; choose one of {valid}")


def check_positive(module: str, option: str, value: float) -> None:
    if not value > 0:
        raise AttnzooError(f"{module}: {option} must be positive, got {value!r}")


def check_momentum(module: str, option: str, value: float | None) -> None:
    """A BatchNorm momentum: in [0, 1], or None (a cumulative average, as nn.BatchNorm2d)."""
    if value is not None and not 0 <= value <= 1:
        raise AttnzooError(f"{module}: {option} must be in [0, 1] or None, got {value!r}")


def conv_out_channels(
    module: str, channels: int, out_channels: int | None, stride: int, groups: int
) -> int:
    """The convention of modules in place of a convolution (``"conv"`` placement): check the
    convolution arguments (``groups`` dividing both widths) and return the output width
    (``channels`` when not given)."""
    out = channels if out_channels is None else out_channels
    for option, value in (("out_channels", out), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AttnzooError(f"{module}: {option} must be a positive int, got {value!r}")
    check_groups(module, "groups", groups, channels, out)
    return out


def check_groups(module: str, option: str, groups: int, in_channels: int, out_channels: int):
    """Require ``groups`` to be a positive int dividing both widths of a grouped convolution."""
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise AttnzooError(f"{module}: {option} must be a positive int, got {groups!r}")
    if in_channels % groups or out_channels % groups:
        raise AttnzooError(
            f"{module}: {option}={groups} must divide both the input ({in_channels}) and output "
            f"({out_channels}) channels"
        )


def check_feature_map(module: str, x: torch.Tensor, channels: int) -> None:
    """Require a 4-D (N, C, H, W) tensor with the channel count the module was built for."""
    if x.dim() != 4:
        raise AttnzooError(f"{module} expects a 4-D input (N, C, H, W); got shape {tuple(x.shape)}")
    if x.shape[1] != channels:
        raise AttnzooError(
            f"{module} was built for {channels} channels; got input with {x.shape[1]} channels "
            f"(shape {tuple(x.shape)})"
        )


def check_train_batch(module: str, x: torch.Tensor, training: bool, reason: str) -> None:
    """BatchNorm over per-sample vectors cannot normalise a batch of one in training mode."""
    if training and x.shape[0] < 2:
        raise AttnzooError(
            f"{module} needs a batch of at least 2 samples in training mode ({reason}); "
            f"got batch size {x.shape[0]}. Use a larger batch, drop the last incomplete batch, "
            f"or call .eval()."
        )


def check_train_positions(module: str, x: torch.Tensor, training: bool, reason: str) -> None:
    """BatchNorm over feature maps needs more than one value per channel in training mode."""
    if training and x.shape[0] * x.shape[2] * x.shape[3] < 2:
        raise AttnzooError(
            f"{module} needs more than one value per channel in training mode ({reason}); got "
            f"one sample of one position, shape {tuple(x.shape)}. Use a larger batch or input, "
            f"or call .eval()."
        )
