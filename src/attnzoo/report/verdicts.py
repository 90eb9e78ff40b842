"""The claims report as Markdown: the confirmatory table with raw and adjusted p-values and
verdicts, the tally of verdicts, the exploratory table and the runs' provenance.

``attnzoo report results/* --claims docs/claims.yaml`` prints :func:`claims_document`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence

from ..markdown import table
from .claims import Comparison, Scale, evaluate_claims, read_claims, row_name
from .document import read_sweep
from .provenance import provenance_sentence
from .stats import Difference

CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg"}


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _versus(c: Comparison) -> str:
    where = c.a.data if c.a.data == c.b.data else f"{c.a.data}, {c.b.data}"
    return f"{row_name(c.a)} {'<' if c.paper == 'lower' else '>'} {row_name(c.b)}? {where}"


def _interval(d: Difference) -> str:
    return f"{d.diff:+.2f}" + ("" if d.low is None else f" [{d.low:+.2f}, {d.high:+.2f}]")


def scale_cell(s: Scale) -> str:
    """ "paper's", or the fields that differ and how many times our sample visits the paper's
    are: ``model, data, epochs; 1/18 of the visits``."""
    if s.papers:
        return "paper's"
    visits = "visits unknown" if s.visits is None else f"1/{s.visits:.0f} of the visits"
    return f"{', '.join(s.differs)}; {visits}"


def claims_table(comparisons: Sequence[Comparison]) -> str:
    """The Markdown table of the confirmatory comparisons, a claim's text on its first line."""
    head = ["#", "claim (paper)", "a vs b (data)", "seeds", "setting vs the paper's"]
    head += ["top-1 err a - b [95% CI]", "median a, b", "p (Welch)", "p adjusted"]
    head += ["detectable (80%)", "confounded by", "verdict"]
    body, last = [], None
    for c in comparisons:
        said = "" if c.claim == last else f"{c.claim} ({c.source})"
        last = c.claim
        body.append(
            [
                str(c.number),
                said,
                _versus(c),
                f"{c.a.n} vs {c.b.n}",
                scale_cell(c.scale),
                _interval(c.difference),
                f"{c.a.primary.median:.2f}, {c.b.primary.median:.2f}",
                _fmt(c.difference.p, ".3f"),
                _fmt(c.p_adjusted, ".3f"),
                _fmt(c.difference.detectable, ".2f"),
                c.confound,
                c.verdict,
            ]
        )
    return table(head, body)


def exploratory_table(comparisons: Sequence[Comparison]) -> str:
    """The comparisons whose rows hold runs beyond the confirmatory seeds, over every run: no
    correction, no verdict."""
    head = ["#", "a vs b (data)", "seeds", "runs beyond the confirmatory seeds"]
    head += ["top-1 err a - b [95% CI]", "median a, b", "p (Welch, uncorrected)"]
    body = []
    for c in comparisons:
        if c.exploratory is None:
            continue
        a, b, d = c.exploratory
        beyond = [
            f"{row_name(row)} " + ", ".join(f"s{s}" for s in row.seeds if s not in mine.seeds)
            for row, mine in ((a, c.a), (b, c.b))
            if row.n > mine.n
        ]
        body.append(
            [
                str(c.number),
                _versus(c),
                f"{a.n} vs {b.n}",
                "; ".join(beyond),
                _interval(d),
                f"{a.primary.median:.2f}, {b.primary.median:.2f}",
                _fmt(d.p, ".3f"),
            ]
        )
    return table(head, body) if body else ""


def tally(comparisons: Sequence[Comparison]) -> str:
    """How many comparisons got each verdict, with each family's correction, as a sentence."""
    counts = Counter(c.verdict for c in comparisons)
    parts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items()))
    families = dict.fromkeys((c.family, c.correction) for c in comparisons)
    how = "; ".join(f"family {f}, {CORRECTION_NAMES[k]}" for f, k in families)
    n = len(comparisons)
    return f"{n} comparison{'s' * (n != 1)} ({how}): {parts}."


def claims_document(path: str | os.PathLike, roots: Sequence[str | os.PathLike]) -> str:
    """The claims report of the claims file ``path`` over the sweep directories ``roots``: the
    confirmatory table and its tally, the exploratory table (if any) and the provenance of the
    runs the comparisons read."""
    sweeps = [read_sweep(r) for r in roots]
    comparisons = evaluate_claims(read_claims(path), sweeps)
    parts = [claims_table(comparisons), tally(comparisons)]
    exploratory = exploratory_table(comparisons)
    if exploratory:
        parts += [
            "Exploratory: the same comparisons over every run, including seeds beyond the "
            "confirmatory ones (added after results were seen). Not corrected, not a verdict.",
            exploratory,
        ]
    read = {
        d
        for c in comparisons
        for row in (c.a, c.b, *(c.exploratory or ())[:2])
        for d in row.run_dirs
    }
    summaries = [s for sweep in sweeps for s in sweep.summaries if s["run_dir"] in read]
    return "\n\n".join([*parts, provenance_sentence(summaries)])
