"""The report's statistics against hand computations and independent implementations."""

import math
import statistics

import numpy as np
import pytest
from scipy import stats as sps

from attnzoo.report.stats import (
    Difference,
    detectable_difference,
    power,
    summarize,
    verdict,
    welch,
    welch_power,
)

A = [19.03, 19.60, 19.61]  # three seeds of one setting's errors
B = [17.71, 18.16, 18.37, 17.9]


def test_mean_interval_by_hand():
    s = summarize([1.0, 2.0, 6.0])
    # mean 3, sample sd sqrt(7), t(0.975, 2) = 4.302653 (tables): 3 +- 4.302653 * sqrt(7 / 3).
    half = 4.302653 * math.sqrt(7 / 3)
    assert (s.mean, s.median, s.min, s.max, s.n) == (3.0, 2.0, 1.0, 6.0, 3)
    assert s.std == pytest.approx(math.sqrt(7))
    assert (s.low, s.high) == pytest.approx((3 - half, 3 + half), abs=1e-5)


def test_one_value_has_no_interval_and_none_is_refused():
    s = summarize([4.5])
    assert (s.mean, s.std, s.low, s.high) == (4.5, None, None, None)
    with pytest.raises(ValueError, match="no values"):
        summarize([])


def test_welch_by_hand():
    # a = 1, 2, 3 (var 1), b = 2, 4, 6, 8 (var 20/3): se^2 = 1/3 + 5/3 = 2,
    # df = 4 / ((1/3)^2 / 2 + (5/3)^2 / 3) = 4.153846...
    d = welch([1, 2, 3], [2, 4, 6, 8])
    df = 4 / ((1 / 3) ** 2 / 2 + (5 / 3) ** 2 / 3)
    assert d.diff == -3 and d.df == pytest.approx(df)
    t = -3 / math.sqrt(2)
    assert d.p == pytest.approx(2 * sps.t.cdf(t, df))
    # t(0.975, 4.1538) lies between the tables' 2.776 (df 4) and 2.571 (df 5).
    half = (d.high - d.low) / 2
    assert 2.571 * math.sqrt(2) < half < 2.777 * math.sqrt(2)
    assert (d.low + d.high) / 2 == pytest.approx(-3)


def test_welch_agrees_with_scipy():
    d = welch(A, B)
    ref = sps.ttest_ind(A, B, equal_var=False)
    assert d.diff == pytest.approx(statistics.fmean(A) - statistics.fmean(B))
    assert d.p == pytest.approx(ref.pvalue)
    low, high = ref.confidence_interval(0.95)
    assert (d.low, d.high) == pytest.approx((low, high))
    assert (d.n_a, d.n_b) == (3, 4)


def test_welch_undefined_cases():
    one = welch([18.0], B)
    assert one.diff == pytest.approx(18 - statistics.fmean(B))
    assert (one.low, one.high, one.p, one.detectable) == (None, None, None, None)
    flat = welch([1.0, 1.0], [2.0, 2.0])
    assert (flat.low, flat.high, flat.p, flat.detectable) == (-1.0, -1.0, None, 0.0)


def test_welch_power_by_simulation():
    """Welch's power at the true standard deviations against the rejection rate of simulated
    Welch tests, with unequal spreads and seed counts (where a pooled power would be wrong)."""
    rng = np.random.default_rng(1)
    (n_a, sd_a), (n_b, sd_b), delta = (3, 0.5), (5, 3.0), 4.0
    a = rng.normal(delta, sd_a, size=(40_000, n_a))
    b = rng.normal(0.0, sd_b, size=(40_000, n_b))
    rate = (sps.ttest_ind(a, b, axis=1, equal_var=False).pvalue < 0.05).mean()
    va, vb = sd_a**2 / n_a, sd_b**2 / n_b
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    assert welch_power(delta, math.sqrt(va + vb), df) == pytest.approx(rate, abs=0.03)


def test_power_by_simulation():
    """The noncentral-t power against the rejection rate of simulated pooled t-tests."""
    rng = np.random.default_rng(0)
    n, sd, delta = 3, 1.0, 3.0
    a = rng.normal(delta, sd, size=(40_000, n))
    b = rng.normal(0.0, sd, size=(40_000, n))
    rate = (sps.ttest_ind(a, b, axis=1).pvalue < 0.05).mean()
    assert power(delta, n, n, sd) == pytest.approx(rate, abs=0.01)


def test_detectable_difference_has_the_power_asked_and_matches_the_textbook_formula():
    for n_a, n_b, sd in ((3, 3, 1.0), (3, 8, 2.5), (10, 10, 0.4)):
        delta = detectable_difference(n_a, n_b, sd)
        assert power(delta, n_a, n_b, sd) == pytest.approx(0.8, abs=1e-6)
        df, scale = n_a + n_b - 2, sd * math.sqrt(1 / n_a + 1 / n_b)
        textbook = (sps.t.ppf(0.975, df) + sps.t.ppf(0.8, df)) * scale
        assert delta == pytest.approx(textbook, rel=0.08)
    # Three seeds a side with sd 1 detect about 3 sd; more seeds, less.
    assert 2.5 < detectable_difference(3, 3, 1.0) < 3.5
    assert detectable_difference(8, 8, 1.0) < detectable_difference(3, 3, 1.0)
    assert detectable_difference(3, 3, 0.0) == 0.0
    with pytest.raises(ValueError, match="two values on each side"):
        detectable_difference(1, 3, 1.0)


def test_welch_reports_welch_s_detectable_difference():
    """The detectable difference is Welch's: the delta at 80% power for Welch's se and df (by
    hand here), not the pooled test's."""
    d = welch(A, B)
    se = math.sqrt(statistics.variance(A) / 3 + statistics.variance(B) / 4)
    assert welch_power(d.detectable, se, d.df) == pytest.approx(0.8, abs=1e-6)
    assert (sps.t.ppf(0.975, d.df) + sps.t.ppf(0.8, d.df)) * se == pytest.approx(
        d.detectable, rel=0.08
    )
    pooled = math.sqrt((2 * statistics.variance(A) + 3 * statistics.variance(B)) / 5)
    assert d.detectable != pytest.approx(detectable_difference(3, 4, pooled), rel=0.01)


def _diff(diff):
    return Difference(diff, diff - 1, diff + 1, 0.5, 4.0, 1.0, 3, 3)


@pytest.mark.parametrize(
    ("diff", "paper", "p", "papers", "expected"),
    [
        (-1.0, "lower", 0.01, True, "confirmed"),
        (1.0, "lower", 0.01, True, "contradicted"),
        (1.0, "higher", 0.01, True, "confirmed"),
        (-1.0, "lower", 0.01, False, "reproduced at this scale"),
        (1.0, "lower", 0.01, False, "not reproduced at this scale"),
        (-1.0, "higher", 0.049, False, "not reproduced at this scale"),
        (-1.0, "lower", 0.05, True, "undecided"),  # p at alpha does not decide
        (-1.0, "lower", None, True, "untested"),
    ],
)
def test_verdict_rule(diff, paper, p, papers, expected):
    assert verdict(_diff(diff), paper, p, papers) == expected


def test_verdict_bad_direction():
    with pytest.raises(ValueError, match="'lower' or 'higher'"):
        verdict(_diff(-1), "better", 0.01)
