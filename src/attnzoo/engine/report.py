"""Tables of results over run directories: median and spread of final-epoch accuracy per setting."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def read_summaries(runs: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """The ``summary.json`` of each run directory (a clear error for a missing or corrupt one)."""
    summaries = []
    for run in runs:
        path = Path(run) / "summary.json"
        if not path.is_file():
            raise FileNotFoundError(f"no summary.json in {run} (did the run finish?)")
        try:
            summaries.append(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"corrupt {path}: {err}") from None
    return summaries


def comparison_table(summaries: list[dict[str, Any]]) -> str:
    """A Markdown table, one row per (model, attention): median top-1/top-5 over seeds, spread."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in summaries:
        groups.setdefault((s["model"], s["attention"]), []).append(s)
    lines = [
        "| model | attention | seeds | top-1 % (median) | top-1 range | top-5 % (median) "
        "| params (M) | train time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (model, attention), runs in groups.items():
        top1 = [r["top1"] for r in runs]
        spread = f"{min(top1):.2f}-{max(top1):.2f}" if len(runs) > 1 else "-"
        lines.append(
            f"| {model} | {attention} | {len(runs)} | {statistics.median(top1):.2f} | {spread} "
            f"| {statistics.median(r['top5'] for r in runs):.2f} "
            f"| {runs[0]['params'] / 1e6:.3f} "
            f"| {statistics.median(r['wall_seconds'] for r in runs):.0f} |"
        )
    return "\n".join(lines)
