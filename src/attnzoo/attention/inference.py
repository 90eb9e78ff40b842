"""Keeping at test time a module that is switched off at inference.

BA2M (Cheng et al., 2021) is trained with a softmax over the batch and, as the paper prescribes,
returns its input at test time (``eval_mode="identity"``); ``eval_mode="batch"`` keeps the
softmax over the evaluation batch. :func:`kept_on` switches every such module of a network to the
kept-on mode for a while, so that the trainer can measure both without naming a module: a module
takes part when it is an :class:`~attnzoo.attention.base.AttentionModule` that is the identity at
inference and has an ``eval_mode`` option with a ``"batch"`` value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from .base import AttentionModule

KEPT_ON = "batch"  # the eval_mode of a module kept on: its training-time forward over the batch


@contextmanager
def kept_on(model: nn.Module) -> Iterator[int]:
    """Within the block, every module of ``model`` switched off at inference is kept on
    (``eval_mode="batch"``); yields how many there are (0: nothing to measure)."""
    switched = [
        m
        for m in model.modules()
        if isinstance(m, AttentionModule) and m.identity_at_inference() and hasattr(m, "eval_mode")
    ]
    before = [m.eval_mode for m in switched]
    for m in switched:
        m.eval_mode = KEPT_ON
    try:
        yield len(switched)
    finally:
        for m, mode in zip(switched, before, strict=True):
            m.eval_mode = mode
