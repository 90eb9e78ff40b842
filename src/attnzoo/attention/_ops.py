"""The library's fast paths and the one switch that turns them on or off.

Every module is one implementation in plain PyTorch. A module may take a faster path only where a
committed benchmark shows it saving at least 5% of a whole network's training step
(docs/benchmarks.md, "Fast paths"), and a test checks it equal to the plain path (test_ops.py).
The fast paths are the pooling and gating functions below, which CBAM and SPEM call. They sit
behind one switch, :func:`set_fast_paths`, initially the environment variable
``ATTNZOO_FAST_PATHS`` (``1``, the default: on; ``0``: off), and apply only on the CPU in eager
execution (:func:`fast_path`).

Why the functions here are faster: on CPU a new (N, C, H, W) tensor can cost more than the
arithmetic that fills it: allocations at or above glibc's mmap threshold (at most 32 MiB) get
fresh pages, which the kernel faults in and zeroes 4 KiB at a time on first write. At one thread,
``x * s`` for a (64, 256, 32, 32) float32 map takes 22 ms or more, of which 3 ms is the multiply
(docs/benchmarks.md). Autograd's formulas allocate freely: ``x * gate`` builds ``grad * x`` and
``grad * gate`` separately, ``mean``'s backward materialises ``grad / HW`` at full size, and
``amax``'s builds a boolean mask, converts it twice and multiplies. The functions here compute the
same values and gradients (``amax``/``amin`` split the gradient evenly between tied extremes, as
autograd does) with fewer full-size tensors, each function's docstring says how many. Their
backward passes are once-differentiable. They take their custom backward only where autograd
records a graph; otherwise (inference, ``no_grad``, the switch off, other devices, compilation,
tracing) they run the plain operators, which every exporter can trace.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

from ..validation import AttnzooError


def _from_environment() -> bool:
    value = os.environ.get("ATTNZOO_FAST_PATHS", "1")
    if value not in ("0", "1"):
        raise AttnzooError(f"ATTNZOO_FAST_PATHS must be 0 or 1, got {value!r}")
    return value == "1"


# Read from the environment on first use, not on import: a bad value is then an error of the
# command that uses it (one line from the CLI), not of ``import attnzoo``.
_fast_paths: bool | None = None


def set_fast_paths(enabled: bool) -> bool:
    """Turn the library's fast paths on or off, for every module; returns the previous setting.

    Off, every module computes with the plain PyTorch operators of its formula. On (the default),
    where the benchmarks in docs/benchmarks.md show them saving time, modules take their faster
    CPU paths, which compute the same function.
    """
    global _fast_paths
    previous, _fast_paths = fast_paths_enabled(), bool(enabled)
    return previous


def fast_paths_enabled() -> bool:
    """Whether the library's fast paths are on (:func:`set_fast_paths`)."""
    global _fast_paths
    if _fast_paths is None:
        _fast_paths = _from_environment()
    return _fast_paths


@contextmanager
def fast_paths(enabled: bool) -> Iterator[None]:
    """:func:`set_fast_paths` for the duration of a ``with`` block."""
    previous = set_fast_paths(enabled)
    try:
        yield
    finally:
        set_fast_paths(previous)


def fast_path(x: torch.Tensor) -> bool:
    """Whether a fast path applies to ``x``: the switch is on, ``x`` is on the CPU, and the code
    runs eagerly (not compiled, traced or exported, where the plain operators do better)."""
    eager = not (torch.compiler.is_compiling() or torch.jit.is_tracing())
    return fast_paths_enabled() and eager and x.device.type == "cpu"


def _tracked(*tensors: torch.Tensor) -> bool:
    """Whether to take the custom backward: a fast path, and autograd records."""
    return (
        fast_path(tensors[0]) and torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    )


class _Scale(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, gate)
        return x * gate

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, gate = ctx.saved_tensors
        need_x, need_gate = ctx.needs_input_grad
        grad_x = grad_gate = product = None
        if need_gate:
            product = grad * x
            grad_gate = product.sum_to_size(gate.shape).to(gate.dtype)
        if need_x:
            # Once reduced to the (smaller) gate's shape, the product is dead: grad * gate
            # overwrites it instead of filling new memory.
            reuse = need_gate and gate.numel() < x.numel()
            grad_x = torch.mul(grad, gate, out=product) if reuse else grad * gate
            grad_x = grad_x.to(x.dtype)
        return grad_x, grad_gate


def scale(x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """``x * gate`` for a ``gate`` that broadcasts to ``x``'s shape (e.g. (N, C, 1, 1)).

    Backward: one full-size tensor (autograd's ``mul`` makes two).
    """
    return _Scale.apply(x, gate) if _tracked(x, gate) else x * gate


def mean(x: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    """``x.mean(dims, keepdim=True)`` as a sum divided by the count: ``sum``'s backward is a
    broadcast view, which autograd adds in place into the other gradients of ``x``."""
    if not _tracked(x):
        return x.mean(dims, keepdim=True)
    count = 1
    for d in dims:
        count *= x.shape[d]
    return x.sum(dims, keepdim=True) / count


class _Extremum(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: FunctionCtx, x: torch.Tensor, dims: tuple[int, ...], largest: bool
    ) -> torch.Tensor:
        out = x.amax(dims, keepdim=True) if largest else x.amin(dims, keepdim=True)
        ctx.dims = dims
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, out = ctx.saved_tensors
        # The 0/1 mask is written in x's dtype directly, then scaled in place: summing a bool
        # mask would first convert it to int64. The count is summed in float32, exact for any
        # realistic number of ties, also when x is bfloat16.
        mask = torch.eq(x, out, out=torch.empty_like(x))
        count = mask.sum(ctx.dims, keepdim=True, dtype=torch.float32)
        return mask.mul_(grad / count), None, None


def amax(x: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    """``x.amax(dims, keepdim=True)``; backward: one full-size tensor (autograd's makes four)."""
    return _Extremum.apply(x, tuple(dims), True) if _tracked(x) else x.amax(dims, keepdim=True)


def amin(x: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    """``x.amin(dims, keepdim=True)``, as :func:`amax`."""
    return _Extremum.apply(x, tuple(dims), False) if _tracked(x) else x.amin(dims, keepdim=True)
