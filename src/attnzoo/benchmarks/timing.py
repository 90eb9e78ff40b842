"""Timing helpers shared by the benchmarks: interleaved rounds, median ratios and their intervals,
device sync.

A leaf module (torch only), so every benchmark can time its steps without importing another.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


def _ratios(times: list[float], baseline: list[float]) -> list[float]:
    return [t / b for t, b in zip(times, baseline, strict=True)]


def median_ratio(times: list[float], baseline: list[float]) -> float:
    return statistics.median(_ratios(times, baseline))


@dataclass(frozen=True)
class RatioInterval:
    """The median over rounds of a within-round time ratio, with a distribution-free interval."""

    median: float
    low: float
    high: float
    coverage: float  # the probability that [low, high] holds the median of the ratio's distribution

    def verdict(self) -> str:
        if self.high < 1:
            return "faster"
        return "slower" if self.low > 1 else "not distinguishable"


def ratio_interval(times: list[float], baseline: list[float], level: float = 0.95) -> RatioInterval:
    """The within-round ratios' median and the order-statistic interval for it: [r_(k), r_(n+1-k)]
    for the largest k that covers the median with probability at least ``level`` (a sign-test
    interval, valid for any distribution of independent rounds). With few rounds no k reaches
    ``level``; k = 1 (the range) is then given with its lower coverage, 1 - 2^(1-n)."""
    ratios = sorted(_ratios(times, baseline))
    n = len(ratios)

    def coverage(k: int) -> float:  # P(r_(k) <= median <= r_(n+1-k)) = 1 - 2 P(Bin(n, 1/2) < k)
        return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2**n

    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(k + 1) >= level:
        k += 1
    return RatioInterval(statistics.median(ratios), ratios[k - 1], ratios[n - k], coverage(k))
