"""Our parameter and multiply-add counts beside every architecture row of the papers' tables.

The published figures live in ``published.yaml`` (one entry per table, with the table each row
comes from); :func:`paper_tables` builds each row's model and :func:`render_markdown` writes the
comparison that ``attnzoo complexity --paper`` prints and ``docs/complexity.md`` holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..attention import list_attention
from ..models import create_model, list_models
from .complexity import complexity

PUBLISHED = Path(__file__).with_name("published.yaml")
NUM_CLASSES = {"imagenet": 1000, "cifar100": 100, "cifar10": 10}
PARAMS_TOLERANCE = 0.005  # millions: the published figures' last digit
FLOPS_TOLERANCE = 0.03  # relative


@dataclass(frozen=True)
class Row:
    table: str
    label: str
    model: str
    attention: str | list[str] | None
    options: dict[str, Any]
    model_options: dict[str, Any]
    num_classes: int
    input_size: int
    params: float | None  # published, millions
    flops: float | None  # published, G multiply-adds
    note: str | None

    def missing(self) -> list[str]:
        """What attnzoo lacks to build this row (a model or attention name), if anything."""
        names = [self.attention] if isinstance(self.attention, str) else self.attention or []
        lacking = [n for n in names if n not in list_attention()]
        return lacking + ([self.model] if self.model not in list_models() else [])

    def build_call(self) -> str:
        args = [repr(self.model), str(self.num_classes)]
        if self.attention:
            args.append(f"attention={self.attention!r}")
        args += [f"{k}={v!r}" for k, v in self.options.items()]
        if self.model_options:
            args.append(f"model_options={self.model_options!r}")
        return f"create_model({', '.join(args)})"


@dataclass(frozen=True)
class Measured:
    row: Row
    params: float | None  # ours, millions; None where the row cannot be built yet
    flops: float | None  # ours, G multiply-adds per image (training-mode count)

    def params_match(self) -> bool | None:
        if self.params is None or self.row.params is None:
            return None
        return abs(self.params - self.row.params) <= PARAMS_TOLERANCE

    def flops_match(self) -> bool | None:
        if self.flops is None or self.row.flops is None:
            return None
        return abs(self.flops - self.row.flops) <= FLOPS_TOLERANCE * self.row.flops


def load_published(path: Path = PUBLISHED) -> list[Row]:
    """Every row of the published tables, in the order of the file."""
    rows = []
    for table in yaml.safe_load(path.read_text()):
        for row in table["rows"]:
            rows.append(
                Row(
                    table=table["table"],
                    label=row["label"],
                    model=row["model"],
                    attention=row.get("attention"),
                    options=row.get("options", {}),
                    model_options=row.get("model_options", {}),
                    num_classes=NUM_CLASSES[table["dataset"]],
                    input_size=table["input_size"],
                    params=row.get("params"),
                    flops=row.get("flops"),
                    note=row.get("note"),
                )
            )
    return rows


def measure(row: Row, count_flops: bool = True) -> Measured:
    """Build the row's model and count it (FLOPs only where the paper gives them)."""
    if row.missing():
        return Measured(row, None, None)
    model = create_model(
        row.model,
        row.num_classes,
        attention=row.attention,
        model_options=row.model_options,
        **row.options,
    )
    if count_flops and row.flops is not None:
        cost = complexity(model, row.input_size)
        return Measured(row, cost["params"] / 1e6, cost["train_macs"] / 1e9)
    return Measured(row, sum(p.numel() for p in model.parameters()) / 1e6, None)


def paper_tables(
    tables: Iterable[str] | None = None, progress: Callable[[Row], None] | None = None
) -> list[Measured]:
    """Measure every published row, or those of the named tables."""
    rows = load_published()
    if tables is not None:
        wanted = set(tables)
        unknown = wanted - {r.table for r in rows}
        if unknown:
            valid = sorted({r.table for r in rows})
            raise ValueError(f"unknown table(s) {sorted(unknown)}; valid: {valid}")
        rows = [r for r in rows if r.table in wanted]
    measured = []
    for row in rows:
        if progress:
            progress(row)
        measured.append(measure(row))
    return measured


def _figure(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _difference(ours: float | None, published: float | None, match: bool | None) -> str:
    if ours is None or published is None:
        return ""
    mark = "" if match else " ✗"
    return f"{ours - published:+.3f}{mark}"


def render_markdown(measured: list[Measured]) -> str:
    """One Markdown table per published table: published, ours, difference, and the reason."""
    titles = {t["table"]: t["title"] for t in yaml.safe_load(PUBLISHED.read_text())}
    out: list[str] = []
    for table in dict.fromkeys(m.row.table for m in measured):
        rows = [m for m in measured if m.row.table == table]
        first = rows[0].row
        out += [
            f"## {table}: {titles[table]}",
            "",
            f"{first.num_classes} classes, {first.input_size}x{first.input_size} input.",
            "",
            "| Architecture | Params (M) paper | ours | diff | MACs (G) paper | ours | diff | "
            "attnzoo call / note |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for m in rows:
            r = m.row
            if r.missing():
                note = f"not in attnzoo yet: {', '.join(r.missing())}"
            else:
                note = f"`{r.build_call()}`" + (f"<br>{r.note}" if r.note else "")
            digits = 3 if r.flops is not None and round(r.flops, 2) != r.flops else 2
            out.append(
                f"| {r.label} | {_figure(r.params, 2)} | {_figure(m.params, 3)} | "
                f"{_difference(m.params, r.params, m.params_match())} | "
                f"{_figure(r.flops, digits)} | {_figure(m.flops, 3)} | "
                f"{_difference(m.flops, r.flops, m.flops_match())} | {note} |"
            )
        out.append("")
    return "\n".join(out)
