"""Timing helpers shared by the benchmarks: interleaved rounds, median ratios, device sync.

A leaf module (torch only), so every benchmark can time its steps without importing another.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch


def synchronize(device: str) -> None:
    """Wait for queued CUDA work, so that a step's time includes it."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


Clock = Callable[[], float]


def _timed(fn: Callable[[], None], clock: Clock) -> float:
    start = clock()
    fn()
    return clock() - start


def interleaved(
    fns: Sequence[Callable[[], None]],
    warmup: int,
    repeats: int,
    clock: Clock = time.perf_counter,
) -> list[list[float]]:
    """Seconds per call of each function: ``repeats`` rounds, each calling every function once in
    turn, after ``warmup`` untimed rounds. Returns times[function][round]."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            times[i].append(_timed(fn, clock))
    return times


def median_ratio(times: list[float], baseline: list[float]) -> float:
    return statistics.median(t / b for t, b in zip(times, baseline, strict=True))
