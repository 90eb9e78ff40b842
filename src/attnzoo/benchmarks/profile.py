"""Where a training step's time goes, by operator, and what each attention variant adds.

``torch.profiler`` records training steps (as :mod:`.bench` runs them) in interleaved rounds after
warm-up; each operator's self time is its minimum over the rounds (the profiler's times are
wall-clock, and other processes only ever add to them), and operators are grouped into
convolutions (forward and backward) and the rest. A variant's cost over the baseline is the
difference, operator by operator: it counts the modules' forward and backward passes without
attributing autograd's backward nodes to modules. On a shared machine, profile at one thread
(``OMP_NUM_THREADS=1``) and read the numbers relative to the baseline's convolutions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch.profiler import ProfilerActivity, profile

from ..markdown import table
from .bench import BenchConfig, build, train_step_fn

CONV_OPS = ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::_convolution")


@dataclass
class ProfileResult:
    model: str
    attention: str
    step_ms: float  # the operators' self times (minima over rounds), summed
    conv_ms: float
    other_ms: float
    extra_conv_ms: float  # over the baseline's
    extra_other_ms: float
    top_extra: str  # the operators that grew most, "name ms" each


def op_times(step: Callable[[], None]) -> dict[str, float]:
    """Self CPU milliseconds of each ``aten::`` operator in one call of ``step``."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return {
        event.key: event.self_cpu_time_total / 1e3
        for event in prof.key_averages()
        if event.key.startswith("aten::")
    }


def run_profile(
    configs: Sequence[BenchConfig],
    *,
    warmup: int = 1,
    repeats: int = 3,
    top: int = 4,
    progress: Callable[[str], None] | None = None,
) -> list[ProfileResult]:
    """Profile ``configs``; the first is the baseline every difference refers to."""
    say = progress or (lambda message: None)
    steps = [train_step_fn(c, build(c)) for c in configs]
    for _ in range(warmup):
        for step in steps:
            step()
    rounds: list[list[dict[str, float]]] = [[] for _ in configs]
    for r in range(repeats):
        say(f"profile round {r + 1}/{repeats}")
        for i, step in enumerate(steps):
            rounds[i].append(op_times(step))
    times = [{op: min(t.get(op, 0.0) for t in per) for op in set().union(*per)} for per in rounds]
    base = times[0]
    base_conv = sum(base.get(op, 0.0) for op in CONV_OPS)
    base_other = sum(base.values()) - base_conv
    results = []
    for config, ops in zip(configs, times, strict=True):
        conv = sum(ops.get(op, 0.0) for op in CONV_OPS)
        other = sum(ops.values()) - conv
        growth = {op: ms - base.get(op, 0.0) for op, ms in ops.items()}
        grown = sorted((op for op in growth if growth[op] > 0), key=growth.get, reverse=True)
        results.append(
            ProfileResult(
                model=config.model,
                attention=config.label,
                step_ms=conv + other,
                conv_ms=conv,
                other_ms=other,
                extra_conv_ms=conv - base_conv,
                extra_other_ms=other - base_other,
                top_extra=", ".join(f"{op[6:]} {growth[op]:.0f}" for op in grown[:top]),
            )
        )
    return results


def markdown(results: Sequence[ProfileResult]) -> str:
    head = (
        "model",
        "attention",
        "step (ms)",
        "conv (ms)",
        "other (ms)",
        "extra conv (ms)",
        "extra other (ms)",
        "extra / baseline conv",
        "largest growth (ms)",
    )
    base_conv = results[0].conv_ms
    body = [
        (
            r.model,
            r.attention,
            f"{r.step_ms:.0f}",
            f"{r.conv_ms:.0f}",
            f"{r.other_ms:.0f}",
            f"{r.extra_conv_ms:.0f}",
            f"{r.extra_other_ms:.0f}",
            f"{(r.extra_conv_ms + r.extra_other_ms) / base_conv:.2f}",
            r.top_extra or "-",
        )
        for r in results
    ]
    return table(head, body, "llrrrrrrl")
