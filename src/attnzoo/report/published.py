"""The papers' published results, keyed as attnzoo names runs: model, attention and config.

The figures live in ``published_results.yaml``, copied as the papers print them, with the
uncertain model mappings noted beside their rows. A table is named by its short id
(``ba2m-table11``, what sweep configs and the command line use) or by its title-like name
(``BA2M Table XI``, as ``benchmarks/published.yaml`` names the same table).

A table reports named metrics, as a run's ``summary.json`` names them: classification tables
``top1_err`` and ``top5_err`` (error %, turned from accuracy where the paper prints accuracy), the
detection tables of BA2M (``reported: metrics``) COCO's ``box_ap``, ... or VOC's ``voc_map07`` and
``voc_recall``. A row may also name config values a run must have to be its paper figure
(:meth:`PublishedTable.find`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from ..validation import AttnzooError

PUBLISHED = resources.files("attnzoo.report") / "published_results.yaml"
ERRORS = ("top1_err", "top5_err")  # what the classification tables report
# (model, attention) -> (top-1 error %, top-5 error % or None)
Published = dict[tuple[str, str], tuple[float, float | None]]


@dataclass(frozen=True)
class PublishedRow:
    label: str
    model: str
    attention: str  # as a run's summary spells it: "none" or names joined by "+"
    config: dict[str, Any]  # what a run's config must hold (the table's and the row's)
    values: dict[str, float | None]  # metric -> the paper's figure; None: printed "-"


@dataclass(frozen=True)
class PublishedTable:
    id: str
    table: str
    task: str  # the attnzoo task whose runs the table compares with
    metrics: tuple[str, ...]  # in the paper's column order
    rows: tuple[PublishedRow, ...]
    defaults: dict[str, Any]  # what a run's config lacking a key counts as

    def find(self, model: str, attention: str, config: dict[str, Any]) -> PublishedRow | None:
        """The row of a run of ``model`` + ``attention`` whose (flat) ``config`` holds every value
        the row names; a key the config lacks counts as ``defaults`` gives it. None if no row."""
        missing = object()
        for row in self.rows:
            if (row.model, row.attention) == (model, attention) and all(
                config.get(k, self.defaults.get(k, missing)) == v for k, v in row.config.items()
            ):
                return row
        return None


@cache
def _entries() -> list[dict[str, Any]]:
    return yaml.safe_load(PUBLISHED.read_text())


def published_tables() -> list[str]:
    """The short ids of the tables :func:`published_table` knows, in file order."""
    return [entry["id"] for entry in _entries()]


def published_table(table: str) -> PublishedTable:
    """One paper table; ``table`` is a short id (see :func:`published_tables`) or a table's name.
    Tables that print accuracy (SPEM) are turned into error, 100 - accuracy."""
    found = [e for e in _entries() if table in (e["id"], e["table"])]
    if not found:
        known = ", ".join(f"{e['id']} ({e['table']})" for e in _entries())
        raise AttnzooError(f"unknown published table {table!r}; known: {known}")
    [entry] = found
    metrics = tuple(entry["metrics"]) if entry["reported"] == "metrics" else ERRORS

    def values(row: dict[str, Any]) -> dict[str, float | None]:
        if entry["reported"] == "metrics":
            return {m: row[m] for m in metrics}
        figures = (row["top1"], row["top5"])
        if entry["reported"] == "accuracy":  # two decimals as printed; keep float noise out
            figures = tuple(None if v is None else round(100 - v, 2) for v in figures)
        return dict(zip(ERRORS, figures, strict=True))

    rows = tuple(
        PublishedRow(
            r["label"], r["model"], r["attention"], entry.get("config", {}) | r.get("config", {}),
            values(r),
        )
        for r in entry["rows"]
    )  # fmt: skip
    task = entry.get("task", "classification")
    return PublishedTable(
        entry["id"], entry["table"], task, metrics, rows, entry.get("config_defaults", {})
    )


def published_errors(table: str) -> Published:
    """``{(model, attention): (top-1 error %, top-5 error % or None)}`` of one classification
    table (see :func:`published_table`); a table of other metrics is refused."""
    found = published_table(table)
    if found.metrics != ERRORS:
        raise AttnzooError(
            f"published table {found.id} reports {', '.join(found.metrics)}, not top-1 errors"
        )
    return {(r.model, r.attention): (r.values[ERRORS[0]], r.values[ERRORS[1]]) for r in found.rows}
