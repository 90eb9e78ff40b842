"""Multiplicity corrections: the p-values of a family of comparisons, adjusted together.

- Holm's step-down (Holm 1979, "A simple sequentially rejective multiple test procedure"): sort the
  m p-values ascending, p_(1) <= ... <= p_(m); the adjusted p_(i) is
  max over j <= i of min(1, (m - j + 1) p_(j)). It controls the family-wise error rate (the chance
  of any false finding) at alpha under any dependence between the tests.
- Benjamini-Hochberg (1995): the adjusted p_(i) is min over j >= i of min(1, m p_(j) / j). It
  controls the false discovery rate (the expected share of false findings among the findings)
  for independent or positively dependent tests: more findings, weaker guarantee.

A comparison without a p-value (one seed a side) is not a test and does not count in m.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..validation import AttnzooError


def holm(ps: Sequence[float]) -> list[float]:
    """Holm-adjusted ``ps``, in the order given."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):  # rank j - 1
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(ps: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg-adjusted ``ps``, in the order given."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i], reverse=True)
    adjusted, running = [0.0] * m, 1.0
    for back, i in enumerate(order):  # rank j = m - back
        running = min(running, m * ps[i] / (m - back))
        adjusted[i] = running
    return adjusted


CORRECTIONS: dict[str, Callable[[Sequence[float]], list[float]]] = {
    "holm": holm,
    "bh": benjamini_hochberg,
}


def adjust(ps: Sequence[float | None], correction: str) -> list[float | None]:
    """``ps`` adjusted by ``correction`` (a key of :data:`CORRECTIONS`) over the p-values that
    exist; None stays None."""
    if correction not in CORRECTIONS:
        raise AttnzooError(f"unknown correction {correction!r}; known: {', '.join(CORRECTIONS)}")
    tested = [i for i, p in enumerate(ps) if p is not None]
    adjusted = CORRECTIONS[correction]([ps[i] for i in tested])
    out: list[float | None] = [None] * len(ps)
    for i, p in zip(tested, adjusted, strict=True):
        out[i] = p
    return out
