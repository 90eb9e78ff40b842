"""The papers' claims against the sweeps: one comparison of two rows each, judged by one rule.

A claims file (YAML) lists each claim, the paper's direction and the comparisons that test it::

    - claim: BA2M improves on the baseline
      source: BA2M, Tables VI and XI
      paper: lower                    # the paper's a has the lower top-1 error
      compare:
        - a: {sweep: cifar10-resnet20, attention: ba2m}
          b: {sweep: cifar10-resnet20, attention: none}

A side names its sweep (the name of one of the report's sweep directories), its ``attention`` and,
where the sweep has them, its ``variant`` and ``model``; it must match exactly one row. Each
comparison is Welch's (:func:`.stats.welch`) on the final-epoch top-1 errors, and its verdict is
:func:`.stats.verdict`'s: confirmed when the 95% interval of a - b excludes 0 in the paper's
direction, contradicted when it excludes 0 in the other, undecided otherwise.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..markdown import table
from .document import Sweep, read_sweep
from .stats import Difference, verdict, welch
from .tables import Row, difference_cells

SIDE_KEYS = frozenset({"sweep", "attention", "variant", "model"})


@dataclass(frozen=True)
class Comparison:
    """One comparison of a claim, resolved against the sweeps."""

    claim: str
    source: str
    paper: str
    a: Row
    b: Row
    difference: Difference
    verdict: str


def read_claims(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The claims of a YAML file, each checked for its keys and direction."""
    claims = yaml.safe_load(Path(path).read_text())
    if not isinstance(claims, list):
        raise ValueError(f"{path}: a claims file is a list of claims")
    for i, claim in enumerate(claims):
        missing = {"claim", "source", "paper", "compare"} - set(claim)
        if missing:
            raise ValueError(f"{path}: claim {i + 1} has no {', '.join(sorted(missing))}")
        if claim["paper"] not in ("lower", "higher"):
            raise ValueError(f"{path}: claim {i + 1}: paper is 'lower' or 'higher'")
    return claims


def find_row(side: Mapping[str, str], sweeps: Mapping[str, Sweep]) -> Row:
    """The one row of ``side``'s sweep with its attention (and variant and model, if given)."""
    unknown = set(side) - SIDE_KEYS
    if unknown or "sweep" not in side or "attention" not in side:
        raise ValueError(f"a side names sweep, attention and optionally variant, model: {side}")
    if side["sweep"] not in sweeps:
        raise ValueError(f"no sweep {side['sweep']!r} among {sorted(sweeps)}")
    rows = [
        r
        for r in sweeps[side["sweep"]].rows
        if r.attention == side["attention"]
        and r.setting == side.get("variant", r.setting)
        and r.model == side.get("model", r.model)
    ]
    if len(rows) != 1:
        raise ValueError(f"{side} matches {len(rows)} rows, not one")
    return rows[0]


def evaluate_claims(claims: Sequence[dict[str, Any]], sweeps: Sequence[Sweep]) -> list[Comparison]:
    """Every comparison of ``claims`` (from :func:`read_claims`) with its difference and verdict."""
    by_name = {sweep.root.name: sweep for sweep in sweeps}
    out = []
    for claim in claims:
        for pair in claim["compare"]:
            a, b = find_row(pair["a"], by_name), find_row(pair["b"], by_name)
            d = welch(a.top1_err.values, b.top1_err.values)
            out.append(
                Comparison(claim["claim"], claim["source"], claim["paper"], a, b, d,
                           verdict(d, claim["paper"]))
            )  # fmt: skip
    return out


def _name(row: Row) -> str:
    """``resnet20 ba2m``, with the variant of an ablation: ``resnet20 ba2m (batch-32)``."""
    return f"{row.model} {row.attention}" + (f" ({row.setting})" if row.setting else "")


def claims_table(comparisons: Sequence[Comparison]) -> str:
    """The Markdown table of the comparisons, a claim's text on its first line only."""
    head = ["claim (paper)", "a vs b (data)", "seeds", "top-1 err a - b [95% CI]", "p (Welch)"]
    head += ["detectable (80%)", "verdict"]
    body, last = [], None
    for c in comparisons:
        said = "" if c.claim == last else f"{c.claim} ({c.source})"
        last = c.claim
        a, b = _name(c.a), _name(c.b)
        where = c.a.data if c.a.data == c.b.data else f"{c.a.data}, {c.b.data}"
        direction = "<" if c.paper == "lower" else ">"
        body.append(
            [said, f"{a} {direction} {b}? {where}", f"{c.a.n} vs {c.b.n}",
             *difference_cells(c.difference), c.verdict]
        )  # fmt: skip
    return table(head, body)


def tally(comparisons: Sequence[Comparison]) -> str:
    """How many comparisons got each verdict, as a sentence."""
    counts = Counter(c.verdict for c in comparisons)
    parts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items()))
    return f"{len(comparisons)} comparison{'s' * (len(comparisons) != 1)}: {parts}."


def claims_document(path: str | os.PathLike, roots: Sequence[str | os.PathLike]) -> str:
    """The claims table of the claims file ``path`` over the sweep directories ``roots``, and the
    tally of its verdicts."""
    comparisons = evaluate_claims(read_claims(path), [read_sweep(r) for r in roots])
    return f"{claims_table(comparisons)}\n\n{tally(comparisons)}"
