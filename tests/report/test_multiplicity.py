"""Holm and Benjamini-Hochberg against hand computations."""

import pytest

from attnzoo.report.multiplicity import adjust, benjamini_hochberg, holm


def test_holm_by_hand():
    # Sorted 0.01, 0.02, 0.03, 0.04 -> 4 * 0.01, 3 * 0.02, max(0.06, 2 * 0.03), max(0.06, 0.04).
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # capped at 1


def test_benjamini_hochberg_by_hand():
    # Sorted 0.01, 0.02, 0.03, 0.04 -> 4/1 * 0.01, 4/2 * 0.02, 4/3 * 0.03, 4/4 * 0.04 = 0.04 each.
    assert benjamini_hochberg([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.04] * 4)
    # A later small p lowers an earlier one: 0.02 * 3/1 = 0.06 but 0.03 * 3/2 = 0.045 caps it.
    assert benjamini_hochberg([0.02, 0.03, 0.9]) == pytest.approx([0.045, 0.045, 0.9])


def test_a_comparison_without_p_is_not_counted():
    assert adjust([0.01, None, 0.02], "holm") == pytest.approx([0.02, None, 0.02])
    with pytest.raises(ValueError, match="unknown correction 'sidak'; known: holm, bh"):
        adjust([0.01], "sidak")
