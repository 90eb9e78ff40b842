"""Results tables over run directories: final-epoch top-1/top-5 error per setting, over seeds.

A row is one setting: the runs whose configs are equal apart from ``seed`` and ``out_dir``. Runs of
one model, attention and dataset with other differences (lr, epochs, an attention option) are
refused rather than pooled, unless the caller asks for one row per setting.
"""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.config import RESUMABLE_CHANGES
from .published import Published

# What may differ between the runs of one row: seeds are the repeats, out_dir is where they went,
# and the settings a run may change on resume do not change what it computes.
PER_RUN_KEYS = ("seed", "out_dir", *sorted(RESUMABLE_CHANGES))
SUMMARY_KEYS = ("model", "attention", "seed", "top1", "top5", "params", "wall_seconds", "config")
# A config key one run has and another lacks (written before the key existed); not JSON, so it
# equals no value.
ABSENT = "absent"


def find_runs(paths: Iterable[str | os.PathLike], marker: str = "summary.json") -> list[Path]:
    """Run directories among ``paths``, each a run directory or a folder of them (a sweep).

    A path holding ``marker`` is a run; any other folder is replaced by the run directories below
    it (a sweep nests them as ``<root>/<model>/<attention>/s<seed>``), so with ``summary.json`` a
    sweep yields its finished runs. A path with none is kept, so that reading it raises an error
    naming it. Runs named twice count once.
    """
    runs: list[Path] = []
    for path in map(Path, paths):
        found = []
        if path.is_dir() and not (path / marker).is_file():
            found = sorted(p.parent for p in path.rglob(marker))
        runs += found or [path]
    return list(dict.fromkeys(runs))


def read_summaries(runs: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """The ``summary.json`` of each run (folders searched as :func:`find_runs`), with ``run_dir``.

    ``run_dir`` is where the summary was read; its ``config.out_dir`` is where it was written,
    which a sweep copied off another machine no longer matches. Missing or corrupt files raise.
    """
    summaries = []
    for run in find_runs(runs):
        path = run / "summary.json"
        if not path.is_file():
            raise FileNotFoundError(f"no summary.json in {run} (did the run finish?)")
        try:
            summary = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"corrupt {path}: {err}") from None
        missing = [k for k in SUMMARY_KEYS if k not in summary]
        if missing:
            raise ValueError(f"corrupt {path}: no {', '.join(missing)}")
        summaries.append({**summary, "run_dir": str(run)})
    return summaries


@dataclass(frozen=True)
class Stats:
    """One metric over the runs of a row."""

    n: int
    median: float
    mean: float
    std: float | None  # sample standard deviation (n - 1); None for a single run
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        std = statistics.stdev(values) if len(values) > 1 else None
        mean = statistics.fmean(values)
        return cls(len(values), statistics.median(values), mean, std, min(values), max(values))


@dataclass(frozen=True)
class Row:
    """One setting: final-epoch test errors (%) over its seeds."""

    model: str
    attention: str
    data: str
    setting: str  # the config values that set this row apart from others of its label, or ""
    run_dirs: tuple[str, ...]
    seeds: tuple[int, ...]
    top1_err: Stats
    top5_err: Stats
    params: int
    wall_seconds: float  # median

    @property
    def n(self) -> int:
        return len(self.run_dirs)


def aggregate(summaries: Iterable[dict[str, Any]], split: bool = False) -> list[Row]:
    """Group runs into rows, in order of first appearance.

    Raises a ValueError naming two runs and the config keys they differ in when runs of the same
    model, attention and data differ in anything but ``seed`` and ``out_dir``; with ``split`` each
    such setting gets its own row instead, labelled by those keys.
    """
    settings: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        settings.setdefault(json.dumps(_setting(s), sort_keys=True), []).append(s)
    labels: dict[tuple[str, str, str], list[list[dict[str, Any]]]] = {}
    for runs in settings.values():
        labels.setdefault(_label(runs[0]), []).append(runs)

    rows = []
    for label, groups in labels.items():
        flat = [_setting(runs[0]) for runs in groups]
        keys = sorted(set().union(*flat))
        differing = [k for k in keys if len({f.get(k, ABSENT) for f in flat}) > 1]
        if differing and not split:
            a, b = flat[:2]
            shown = ", ".join(
                f"{k} ({a.get(k, ABSENT)} vs {b.get(k, ABSENT)})"
                for k in differing
                if a.get(k, ABSENT) != b.get(k, ABSENT)
            )
            raise ValueError(
                f"runs {_run_dir(groups[0][0])} and {_run_dir(groups[1][0])} are both "
                f"{label[0]} + {label[1]} on {label[2]} but their configs differ in {shown}: "
                "give the runs of one setting, or split them into one row per setting (--split)"
            )
        for runs, f in zip(groups, flat, strict=True):
            rows.append(_row(label, ", ".join(f"{k}={f.get(k, ABSENT)}" for k in differing), runs))
    return rows


def _setting(summary: dict[str, Any]) -> dict[str, str]:
    """A run's config without its per-run keys, flattened so that settings compare and print."""
    return _flatten({k: v for k, v in summary["config"].items() if k not in PER_RUN_KEYS})


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts as dotted keys (a difference names the option: attention_options.ba2m.tau),
    values as JSON text. An empty dict adds no key: no options whether it is {} or absent."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = json.dumps(value, sort_keys=True)
    return flat


def _label(summary: dict[str, Any]) -> tuple[str, str, str]:
    return summary["model"], summary["attention"], str(summary["config"]["data"])


def _run_dir(summary: dict[str, Any]) -> str:
    # A summary straight from train() has no run_dir; its out_dir is where it was written.
    return summary.get("run_dir", summary["config"]["out_dir"])


def _row(label: tuple[str, str, str], setting: str, runs: list[dict[str, Any]]) -> Row:
    return Row(
        *label,
        setting=setting,
        run_dirs=tuple(_run_dir(r) for r in runs),
        seeds=tuple(r["seed"] for r in runs),
        top1_err=Stats.of([100 - r["top1"] for r in runs]),
        top5_err=Stats.of([100 - r["top5"] for r in runs]),
        params=runs[0]["params"],
        wall_seconds=statistics.median(r["wall_seconds"] for r in runs),
    )


def markdown(rows: Sequence[Row], published: Published | None = None) -> str:
    """A Markdown table of ``rows``; with ``published`` (see ``published_errors``), the paper's
    errors and ours minus theirs beside them (blank where the paper has no such row)."""
    settings = any(r.setting for r in rows)
    head = ["model", "attention", "data", *(["setting"] * settings), "seeds"]
    head += ["top-1 err % (median)", "top-1 mean ± std", "top-1 min-max"]
    head += ["top-5 err % (median)", "top-5 mean ± std", "top-5 min-max", "params (M)", "time (s)"]
    if published is not None:
        head += ["paper top-1 err %", "ours - paper", "paper top-5 err %", "ours - paper"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.model, r.attention, r.data, *([r.setting] * settings), str(r.n)]
        for s in (r.top1_err, r.top5_err):
            spread = f"{s.mean:.2f}" + ("" if s.std is None else f" ± {s.std:.2f}")
            cells += [f"{s.median:.2f}", spread, f"{s.min:.2f}-{s.max:.2f}"]
        cells += [f"{r.params / 1e6:.3f}", f"{r.wall_seconds:.0f}"]
        if published is not None:
            specs = (".2f", "+.2f") * 2
            cells += [_fmt(v, f) for v, f in zip(_versus_paper(r, published), specs, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def csv_text(rows: Sequence[Row], published: Published | None = None) -> str:
    """``rows`` as CSV, every statistic in its own column (blank: none, e.g. std of one run)."""
    stats = ("median", "mean", "std", "min", "max")
    head = ["model", "attention", "data", "setting", "n", "seeds"]
    head += [f"{m}_err_{s}" for m in ("top1", "top5") for s in stats]
    head += ["params", "wall_seconds_median", "run_dirs"]
    if published is not None:
        head += ["paper_top1_err", "diff_top1_err", "paper_top5_err", "diff_top5_err"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    for r in rows:
        cells = [r.model, r.attention, r.data, r.setting, r.n, " ".join(map(str, r.seeds))]
        cells += [_number(getattr(m, s)) for m in (r.top1_err, r.top5_err) for s in stats]
        cells += [r.params, _number(r.wall_seconds), ";".join(r.run_dirs)]
        if published is not None:
            cells += [_number(v) for v in _versus_paper(r, published)]
        writer.writerow(cells)
    return out.getvalue()


def _versus_paper(row: Row, published: Published) -> list[float | None]:
    """Paper top-1, ours minus it, paper top-5, ours minus it; None where the paper has none."""
    cells: list[float | None] = []
    theirs = published.get((row.model, row.attention), (None, None))
    for ours, paper in zip((row.top1_err, row.top5_err), theirs, strict=True):
        cells += [None, None] if paper is None else [paper, ours.median - paper]
    return cells


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _number(value: float | None) -> str:
    # Four decimals: 100 - 82.4 is 17.599999999999994, which no reader wants.
    return "" if value is None else f"{value:.4f}".rstrip("0").rstrip(".")
