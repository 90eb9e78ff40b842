"""Statistics over seeds: a mean's interval, a difference's interval and test, what n detects.

Pure functions of lists of numbers (one final-epoch error per seed). Every interval is two-sided at
95%; every test is two-sided.

- The mean's interval is Student's t: mean +- t(0.975, n - 1) * s / sqrt(n).
- A difference of two settings' means (a - b) is Welch's: its standard error is
  sqrt(s_a^2 / n_a + s_b^2 / n_b), its degrees of freedom Welch-Satterthwaite's, its interval
  diff +- t(0.975, df) * se, its p-value Welch's t-test's (``scipy.stats.ttest_ind(a, b,
  equal_var=False)`` gives the same).
- The smallest difference the seeds could detect is the true difference that a two-sided t-test at
  alpha = 0.05 would find with 80% power, given the pooled standard deviation
  s_p = sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2)): the delta at which the
  noncentral t distribution with df = n_a + n_b - 2 and noncentrality delta / (s_p *
  sqrt(1/n_a + 1/n_b)) puts 80% of its mass beyond +-t(0.975, df). Close to the textbook
  (t(0.975, df) + t(0.8, df)) * s_p * sqrt(1/n_a + 1/n_b).

Undefined quantities (the interval of one run, a test with a zero variance on both sides) are None.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import optimize
from scipy import stats as sps

CONFIDENCE = 0.95
ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class Summary:
    """One setting's values over seeds."""

    values: tuple[float, ...]
    mean: float
    std: float | None  # sample standard deviation (n - 1); None for a single value
    median: float
    min: float
    max: float
    low: float | None  # the mean's 95% interval; None for a single value
    high: float | None

    @property
    def n(self) -> int:
        return len(self.values)


def summarize(values: Sequence[float]) -> Summary:
    """Mean with its 95% t interval, sample standard deviation, median and range of ``values``."""
    if not values:
        raise ValueError("no values to summarise")
    values = tuple(float(v) for v in values)
    mean = statistics.fmean(values)
    std = low = high = None
    if len(values) > 1:
        std = statistics.stdev(values)
        half = sps.t.ppf((1 + CONFIDENCE) / 2, len(values) - 1) * std / math.sqrt(len(values))
        low, high = mean - half, mean + half
    median = statistics.median(values)
    return Summary(values, mean, std, median, min(values), max(values), low, high)


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) with Welch's interval and test, and the smallest detectable difference."""

    diff: float
    low: float | None
    high: float | None
    p: float | None
    df: float | None
    detectable: float | None  # at 80% power, alpha 0.05, from the pooled standard deviation
    n_a: int
    n_b: int


def welch(a: Sequence[float], b: Sequence[float]) -> Difference:
    """Welch's comparison of ``a`` with ``b``: diff = mean(a) - mean(b), its 95% interval and the
    two-sided p-value; None where undefined (fewer than 2 values on a side, or no variance)."""
    sa, sb = summarize(a), summarize(b)
    diff = sa.mean - sb.mean
    if sa.std is None or sb.std is None:
        return Difference(diff, None, None, None, None, None, sa.n, sb.n)
    va, vb = sa.std**2 / sa.n, sb.std**2 / sb.n
    detectable = detectable_difference(sa.n, sb.n, pooled_std(sa, sb))
    if va + vb == 0:
        return Difference(diff, diff, diff, None, None, detectable, sa.n, sb.n)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (sa.n - 1) + vb**2 / (sb.n - 1))
    half = sps.t.ppf((1 + CONFIDENCE) / 2, df) * se
    p = 2 * sps.t.sf(abs(diff) / se, df)
    return Difference(diff, diff - half, diff + half, p, df, detectable, sa.n, sb.n)


def pooled_std(a: Summary, b: Summary) -> float:
    """sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2)); both need two values or more."""
    if a.std is None or b.std is None:
        raise ValueError("a pooled standard deviation needs two values on each side")
    return math.sqrt(((a.n - 1) * a.std**2 + (b.n - 1) * b.std**2) / (a.n + b.n - 2))


def power(delta: float, n_a: int, n_b: int, sd: float, alpha: float = ALPHA) -> float:
    """The chance that a two-sided t-test (pooled, df = n_a + n_b - 2) at ``alpha`` finds a true
    difference ``delta`` between normal samples of standard deviation ``sd``."""
    df = n_a + n_b - 2
    nc = delta / (sd * math.sqrt(1 / n_a + 1 / n_b))
    crit = sps.t.ppf(1 - alpha / 2, df)
    return sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc)


def detectable_difference(
    n_a: int, n_b: int, sd: float, alpha: float = ALPHA, target: float = POWER
) -> float:
    """The smallest true difference found with probability ``target`` (see :func:`power`)."""
    if n_a < 2 or n_b < 2:
        raise ValueError(f"a t-test needs two values on each side, got {n_a} and {n_b}")
    if sd == 0:
        return 0.0
    # Power rises with delta: double a bracket until it holds the target (far noncentralities
    # make scipy's noncentral t return NaN, so no fixed wide bracket).
    high = sd * math.sqrt(1 / n_a + 1 / n_b)
    while power(high, n_a, n_b, sd, alpha) < target:
        high *= 2
    return optimize.brentq(lambda d: power(d, n_a, n_b, sd, alpha) - target, 0.0, high)


def verdict(difference: Difference, paper: str) -> str:
    """The study's one rule. ``paper`` is the direction the paper claims for a - b: "lower" (a's
    error below b's) or "higher". Confirmed when the 95% interval of the difference excludes 0 in
    that direction, contradicted when it excludes 0 in the other, undecided otherwise (and
    untested when there is no interval: a side with one seed)."""
    if paper not in ("lower", "higher"):
        raise ValueError(f"a paper's direction is 'lower' or 'higher', not {paper!r}")
    if difference.low is None or difference.high is None:
        return "untested (one seed)"
    sign = -1 if paper == "lower" else 1  # the interval turned so that the paper's side is > 0
    lo, hi = sorted((sign * difference.low, sign * difference.high))
    if lo > 0:
        return "confirmed"
    if hi < 0:
        return "contradicted"
    return "undecided"
