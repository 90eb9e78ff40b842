"""Figures of run directories: training curves, and final errors side by side.

matplotlib is an optional extra (``pip install attnzoo[plot]``), imported only when a figure is
drawn. Figures render through the Agg canvas directly, never pyplot, so drawing one neither needs a
display nor changes the backend of a notebook that imports attnzoo.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..io import atomic_write
from ..validation import AttnzooError
from .tables import Row, find_runs, read_summaries, table_metric

# (record section, key, panel title); a None section reads the key from the record itself.
CURVES = (
    ("train", "loss", "train loss"),
    ("test", "loss", "test loss"),
    ("test", "top1", "test top-1 accuracy (%)"),
    (None, "lr", "learning rate (end of epoch)"),
)
LINE_STYLES = ("-", "--", ":", "-.")


def read_metrics(run: str | os.PathLike) -> list[dict[str, Any]]:
    """The per-epoch records of a run's ``metrics.jsonl``; missing, empty or corrupt raise."""
    path = Path(run) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.jsonl in {run}")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise AttnzooError(f"corrupt {path} line {number}: {err}") from None
    if not records:
        raise AttnzooError(f"{path} is empty: no epoch has finished")
    return records


def plot_curves(run_dirs: Iterable[str | os.PathLike], out_png: str | os.PathLike) -> Path:
    """Train and test loss, test top-1 and lr against epoch, one line per run; returns the path.

    ``run_dirs`` may name folders of runs, searched as :func:`~attnzoo.report.tables.find_runs`
    (unfinished runs included). Every run's metrics are read before anything is drawn.
    """
    runs = [(_describe(run), read_metrics(run)) for run in find_runs(run_dirs, "metrics.jsonl")]
    figure, save = _figure(figsize=(11, 7.5))
    axes = figure.subplots(2, 2, sharex=True).ravel()
    # One colour per setting and one line style per seed, so that a sweep's seeds read as a band.
    colours: dict[str, str] = {}
    seeds: dict[str, int] = {}
    for (setting, seed), records in runs:
        colour = colours.setdefault(setting, f"C{len(colours) % 10}")
        style = LINE_STYLES[seeds.setdefault(setting, 0) % len(LINE_STYLES)]
        seeds[setting] += 1
        epochs = [r["epoch"] for r in records]
        for ax, (section, key, _) in zip(axes, CURVES, strict=True):
            values = [(r[section] if section else r)[key] for r in records]
            ax.plot(
                epochs,
                values,
                style,
                color=colour,
                marker="o",
                markersize=3,
                label=f"{setting}{seed}",
            )
    for ax, (*_, title) in zip(axes, CURVES, strict=True):
        ax.set_title(title)
        ax.grid(alpha=0.3)
    for ax in axes[2:]:
        ax.set_xlabel("epoch")
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    return save(out_png)


def _describe(run: Path) -> tuple[str, str]:
    """(setting, seed) labels of a run's lines: "resnet20 + se", ", seed 0"."""
    # A run still training has no summary.json yet: its folder name is all there is.
    if not (run / "summary.json").is_file():
        return str(run), ""
    [s] = read_summaries([run])
    return f"{s['model']} + {s['attention']}", f", seed {s['seed']}"


def plot_comparison(rows: Sequence[Row], out_png: str | os.PathLike) -> Path:
    """Bar chart of each row's median final metric (classification: top-1 error); error bars
    span min to max over seeds."""
    if not rows:
        raise AttnzooError("no rows to plot")
    metric = table_metric(rows)
    figure, save = _figure(figsize=(max(5.0, 0.9 * len(rows) + 2), 5))
    ax = figure.subplots()
    medians = [r.primary.median for r in rows]
    spread = [
        [r.primary.median - r.primary.min for r in rows],
        [r.primary.max - r.primary.median for r in rows],
    ]
    ax.bar(range(len(rows)), medians, yerr=spread, capsize=4)
    show_data = len({r.data for r in rows}) > 1
    ax.set_xticks(range(len(rows)), [_tick(r, show_data) for r in rows], fontsize="small")
    ax.set_ylabel(f"final-epoch {metric.label}")
    ax.set_title(f"{metric.label}: median over seeds, error bars min to max")
    ax.grid(axis="y", alpha=0.3)
    return save(out_png)


def _tick(row: Row, show_data: bool) -> str:
    parts = [row.model, row.attention, row.data if show_data else "", row.setting, f"n={row.n}"]
    return "\n".join(p.replace(", ", "\n") for p in parts if p)


def _figure(figsize: tuple[float, float]) -> tuple[Any, Any]:
    """A new Figure on an Agg canvas, and a function that writes it as PNG, atomically."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'attnzoo[plot]'") from None
    figure = Figure(figsize=figsize, layout="constrained")
    canvas = FigureCanvasAgg(figure)

    def save(path: str | os.PathLike) -> Path:
        return atomic_write(path, lambda f: canvas.print_png(f))

    return figure, save
