"""The one Markdown table renderer every report, benchmark and analysis table goes through."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def table(head: Sequence[str], body: Iterable[Sequence[object]], align: str = "") -> str:
    """A Markdown table: a header, a rule and a line per row of cells. ``align`` gives one letter
    per column, ``l`` (left, the default for columns it does not reach) or ``r`` (right, for
    numbers)."""
    rule = "|" + "".join("---:|" if a == "r" else "---|" for a in align.ljust(len(head), "l"))
    lines = ["| " + " | ".join(head) + " |", rule]
    lines += ["| " + " | ".join(str(c) for c in cells) + " |" for cells in body]
    return "\n".join(lines)
