"""BA2M's global spatial attention (GSA) branch alone, in two orders of computation side by side.

The GSA (Cheng et al., "BA^2M: A Batch Aware Attention Module for Image Classification", 2021;
docs/ba2m.md) attends over all H*W positions of a feature map, so its explicit form keeps an
(N, G, HW, HW) softmax for the backward pass: 1.2 GiB in float32 for a batch of 32 at 56x56, the
first stage of an ImageNet ResNet. The rows: ``sdpa``, the branch as BA2M runs it
(``scaled_dot_product_attention``'s fused kernels keep only per-row statistics), and
``explicit``, SDPA restricted to its math backend, which materialises the softmax and keeps it
for the backward pass (the naive form). The branch is built exactly as BA2M builds it (same
hidden width), and a step is its forward and backward on a fixed batch, with gradients for the
input and the weights. Peak memory: a fresh subprocess per order (:mod:`.memory`); time:
interleaved rounds after warm-up, each ratio the median over rounds of its time over sdpa's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..attention.ba2m import GlobalSpatialBranch, hidden_width
from ..markdown import table
from ..validation import AttnzooError
from .memory import cuda_peak_mb, subprocess_peak_mb
from .timing import Clock, interleaved, median_ratio, synchronize

IMPLS = ("sdpa", "explicit")  # the first is the baseline of every ratio


@contextmanager
def order(impl: str) -> Iterator[None]:
    """The forward pass's setting for ``impl``: SDPA's backend."""
    with sdpa_kernel(SDPBackend.MATH) if impl == "explicit" else nullcontext():
        yield


@dataclass(frozen=True)
class GsaConfig:
    impl: str
    channels: int = 256
    input_size: int = 56
    batch_size: int = 32
    device: str = "cpu"


@dataclass
class GsaResult:
    impl: str
    channels: int
    input_size: int
    batch_size: int
    attn_matrix_mb: float  # one (N, G, HW, HW) float32 attention matrix
    step_ms: float
    peak_mem_mb: float | None
    time_ratio: float  # step time / sdpa's, median over rounds
    mem_ratio: float | None


def build_branch(config: GsaConfig) -> nn.Module:
    """The GSA branch at the hidden width BA2M gives it by default."""
    if config.impl not in IMPLS:
        raise AttnzooError(f"GSA order {config.impl!r} is not one of {', '.join(IMPLS)}")
    hidden = hidden_width(config.channels)
    return GlobalSpatialBranch(config.channels, hidden, groups=1).to(config.device).train()


def gsa_step_fn(config: GsaConfig) -> Callable[[], None]:
    """Forward and backward of the branch on a fixed batch and upstream gradient."""
    branch = build_branch(config)
    generator = torch.Generator().manual_seed(0)
    n, c, s = config.batch_size, config.channels, config.input_size
    x = torch.randn(n, c, s, s, generator=generator).to(config.device).requires_grad_()
    grad = torch.randn(n, 1, s, s, generator=generator).to(config.device)

    def step() -> None:
        x.grad = None
        branch.zero_grad(set_to_none=True)
        with order(config.impl):
            out = branch(x)
        out.backward(grad)
        synchronize(config.device)

    return step


def peak_memory_mb(config: GsaConfig) -> float:
    if config.device.startswith("cuda"):
        return cuda_peak_mb(gsa_step_fn(config))
    return subprocess_peak_mb(gsa_step_fn, config, label=f"gsa {config.impl}")


def run_gsa_bench(
    channels: int = 256,
    input_size: int = 56,
    batch_size: int = 32,
    *,
    device: str = "cpu",
    warmup: int = 1,
    repeats: int = 3,
    memory: bool = True,
    clock: Clock = time.perf_counter,
    progress: Callable[[str], None] | None = None,
) -> list[GsaResult]:
    """One row per order, sdpa first; ratios are to sdpa's."""
    say = progress or (lambda message: None)
    configs = [GsaConfig(i, channels, input_size, batch_size, device) for i in IMPLS]
    say("steps")
    times = interleaved([gsa_step_fn(c) for c in configs], warmup, repeats, clock)
    mems: list[float | None] = []
    for c in configs:
        say(f"memory: {c.impl}")
        mems.append(peak_memory_mb(c) if memory else None)
    groups = build_branch(configs[0]).groups
    matrix_mb = batch_size * groups * (input_size**2) ** 2 * 4 / 2**20
    return [
        GsaResult(
            impl=c.impl,
            channels=channels,
            input_size=input_size,
            batch_size=batch_size,
            attn_matrix_mb=matrix_mb,
            step_ms=1e3 * statistics.median(times[i]),
            peak_mem_mb=mems[i],
            time_ratio=median_ratio(times[i], times[0]),
            mem_ratio=None if mems[i] is None else mems[i] / mems[0],
        )
        for i, c in enumerate(configs)
    ]


def markdown(results: Sequence[GsaResult]) -> str:
    """The results as a Markdown table, ratios to the first (sdpa) row."""

    def value(v: float | None, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    head = (
        "order",
        "C",
        "size",
        "batch",
        "attention matrix (MiB)",
        "fwd+bwd (ms)",
        "time ratio",
        "peak mem (MiB)",
        "mem ratio",
    )
    body = [
        (
            r.impl,
            r.channels,
            r.input_size,
            r.batch_size,
            f"{r.attn_matrix_mb:.0f}",
            f"{r.step_ms:.0f}",
            f"{r.time_ratio:.2f}",
            value(r.peak_mem_mb, ".0f"),
            value(r.mem_ratio, ".2f"),
        )
        for r in results
    ]
    return table(head, body, "lrrrrrrrr")
