"""Statistics over seeds: a mean's interval, a difference's interval and test, what n detects.

Pure functions of lists of numbers (one final-epoch error per seed). Every interval is two-sided at
95%; every test is two-sided.

- The mean's interval is Student's t: mean +- t(0.975, n - 1) * s / sqrt(n).
- A difference of two settings' means (a - b) is Welch's: its standard error is
  sqrt(s_a^2 / n_a + s_b^2 / n_b), its degrees of freedom Welch-Satterthwaite's, its interval
  diff +- t(0.975, df) * se, its p-value Welch's t-test's (``scipy.stats.ttest_ind(a, b,
  equal_var=False)`` gives the same).
- The detectable difference is Welch's too, the statistic the verdicts use: the true difference
  delta that Welch's two-sided test at alpha = 0.05 finds with 80% probability *if the true
  standard deviations were the observed ones*: the delta at which the noncentral t distribution
  with Welch's df and noncentrality delta / se puts 80% of its mass beyond +-t(0.975, df) (close
  to the textbook (t(0.975, df) + t(0.8, df)) * se). It is a property of the design (seeds and
  spread), not of the result: a true difference below it would be missed more often than not,
  and an undecided verdict does not show that the true difference is below it. It is at the
  unadjusted alpha; a family's correction (:mod:`.multiplicity`) raises it.
  :func:`detectable_difference` keeps the pooled-variance version (the equal-variance t-test's
  power) for a design with one assumed standard deviation.

Undefined quantities (the interval of one run, a test with a zero variance on both sides) are None.
The verdict (:func:`verdict`) reads a p-value that its family's correction has adjusted.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scipy import optimize
from scipy import stats as sps

from ..validation import AttnzooError

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
        raise AttnzooError("no values to summarise")
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
    detectable: float | None  # Welch's, at 80% power and alpha 0.05 (see the module's docstring)
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
    if va + vb == 0:
        return Difference(diff, diff, diff, None, None, 0.0, sa.n, sb.n)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (sa.n - 1) + vb**2 / (sb.n - 1))
    half = sps.t.ppf((1 + CONFIDENCE) / 2, df) * se
    p = 2 * sps.t.sf(abs(diff) / se, df)
    detectable = _solve_power(lambda d: welch_power(d, se, df), se)
    return Difference(diff, diff - half, diff + half, p, df, detectable, sa.n, sb.n)


def welch_power(delta: float, se: float, df: float, alpha: float = ALPHA) -> float:
    """The chance that a two-sided t-test at ``alpha`` with standard error ``se`` and ``df``
    degrees of freedom (Welch's, or the pooled test's) finds a true difference ``delta``."""
    nc = delta / se
    crit = sps.t.ppf(1 - alpha / 2, df)
    # The lower tail as the upper tail of -T: scipy's nct.cdf far below a large noncentrality
    # returns NaN where nct.sf returns the (tiny) right value.
    return sps.nct.sf(crit, df, nc) + sps.nct.sf(crit, df, -nc)


def power(delta: float, n_a: int, n_b: int, sd: float, alpha: float = ALPHA) -> float:
    """The chance that a two-sided t-test (pooled, df = n_a + n_b - 2) at ``alpha`` finds a true
    difference ``delta`` between normal samples of standard deviation ``sd``."""
    return welch_power(delta, sd * math.sqrt(1 / n_a + 1 / n_b), n_a + n_b - 2, alpha)


def detectable_difference(
    n_a: int, n_b: int, sd: float, alpha: float = ALPHA, target: float = POWER
) -> float:
    """The smallest true difference found with probability ``target`` (see :func:`power`)."""
    if n_a < 2 or n_b < 2:
        raise AttnzooError(f"a t-test needs two values on each side, got {n_a} and {n_b}")
    if sd == 0:
        return 0.0
    return _solve_power(lambda d: power(d, n_a, n_b, sd, alpha), sd * math.sqrt(1 / n_a + 1 / n_b))


def _solve_power(power_of: Callable[[float], float], scale: float, target: float = POWER) -> float:
    """The delta at which ``power_of`` (rising in delta) reaches ``target``. Power rises with
    delta: double a bracket from ``scale`` until it holds the target (far noncentralities make
    scipy's noncentral t return NaN, so no fixed wide bracket)."""
    high = scale
    while power_of(high) < target:
        high *= 2
    return optimize.brentq(lambda d: power_of(d) - target, 0.0, high)


# The verdict words: a comparison at the paper's own setting tests the paper's claim; one at
# another setting (a smaller model, other data, fewer epochs) only whether the effect shows there.
AT_PAPER_SETTING = ("confirmed", "contradicted")
AT_THIS_SCALE = ("reproduced at this scale", "not reproduced at this scale")


def verdict(
    difference: Difference, paper: str, p: float | None, at_paper_setting: bool = False
) -> str:
    """The study's one rule. ``paper`` is the direction the paper claims for a - b: "lower" (a's
    error below b's) or "higher"; ``p`` the comparison's p-value after its family's correction.
    Below alpha, the sign of the difference decides: the paper's direction is "confirmed" (at the
    paper's own setting) or "reproduced at this scale" (at any other), the other direction
    "contradicted" or "not reproduced at this scale". Otherwise "undecided", and "untested"
    without a p-value (a side with one seed, or no variance on either side)."""
    if paper not in ("lower", "higher"):
        raise AttnzooError(f"a paper's direction is 'lower' or 'higher', not {paper!r}")
    if p is None:
        return "untested"
    if p >= ALPHA:
        return "undecided"
    agrees, disagrees = AT_PAPER_SETTING if at_paper_setting else AT_THIS_SCALE
    return agrees if (difference.diff < 0) == (paper == "lower") else disagrees
