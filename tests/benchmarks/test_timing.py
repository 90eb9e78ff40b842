"""The interval for a median ratio: its order statistics and their coverage."""

from __future__ import annotations

import random

import pytest

from attnzoo.benchmarks.timing import RatioInterval, ratio_interval


@pytest.mark.parametrize(("n", "k"), [(3, 1), (5, 1), (8, 1), (10, 2), (20, 6)])
def test_the_interval_is_the_widest_order_statistics_that_reach_95_percent(n, k):
    ratios = [1 + i / 100 for i in range(n)]
    shuffled = random.Random(n).sample(ratios, n)
    interval = ratio_interval(shuffled, [1.0] * n)
    assert (interval.low, interval.high) == (ratios[k - 1], ratios[n - k])


@pytest.mark.parametrize("n", [5, 10, 20])
def test_the_stated_coverage_is_the_frequency_with_which_it_holds_the_median(n):
    """Simulated: rounds drawn from a skewed distribution whose median is known."""
    rng = random.Random(0)
    median = 0.25  # of U^2 for U uniform on [0, 1]: P(U^2 <= 1/4) = P(U <= 1/2) = 1/2
    trials, held = 20_000, 0
    for _ in range(trials):
        interval = ratio_interval([rng.random() ** 2 for _ in range(n)], [1.0] * n)
        held += interval.low <= median <= interval.high
    stated = ratio_interval([1.0] * n, [1.0] * n).coverage
    assert held / trials == pytest.approx(stated, abs=0.01)
    assert stated >= 0.95 or n == 5  # 5 rounds can only give the range, 93.75%


def test_verdicts():
    assert RatioInterval(0.9, 0.85, 0.97, 0.94).verdict() == "faster"
    assert RatioInterval(1.1, 1.02, 1.2, 0.94).verdict() == "slower"
    assert RatioInterval(1.0, 0.97, 1.02, 0.94).verdict() == "not distinguishable"
