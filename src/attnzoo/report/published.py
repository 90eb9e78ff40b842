"""The papers' published test errors, keyed as attnzoo names runs: ``(model, attention)``.

The figures live in ``published_results.yaml``, copied as the papers print them (error or accuracy),
with the uncertain model mappings noted beside their rows. A table is named by its short id
(``ba2m-table11``, what sweep configs and the command line use) or by its title-like name
(``BA2M Table XI``, as ``benchmarks/published.yaml`` names the same table).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from ..validation import AttnzooError

PUBLISHED = resources.files("attnzoo.report") / "published_results.yaml"
# (model, attention) -> (top-1 error %, top-5 error % or None)
Published = dict[tuple[str, str], tuple[float, float | None]]


@cache
def _entries() -> list[dict[str, Any]]:
    return yaml.safe_load(PUBLISHED.read_text())


def published_tables() -> list[str]:
    """The short ids of the tables :func:`published_errors` knows, in file order."""
    return [entry["id"] for entry in _entries()]


def published_errors(table: str) -> Published:
    """``{(model, attention): (top-1 error %, top-5 error % or None)}`` of one paper table.

    ``table`` is a short id (see :func:`published_tables`) or a table's name. ``attention`` is
    spelled as a run's summary spells it: ``"none"`` or names joined by ``"+"``. Tables that
    print accuracy (SPEM) are turned into error, 100 - accuracy.
    """
    found = [e for e in _entries() if table in (e["id"], e["table"])]
    if not found:
        known = ", ".join(f"{e['id']} ({e['table']})" for e in _entries())
        raise AttnzooError(f"unknown published table {table!r}; known: {known}")
    [entry] = found

    def error(value: float | None) -> float | None:
        if value is None or entry["reported"] == "error":
            return value
        return round(100 - value, 2)  # the papers print two decimals; keep float noise out

    return {
        (r["model"], r["attention"]): (error(r["top1"]), error(r["top5"])) for r in entry["rows"]
    }
