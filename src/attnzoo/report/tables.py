"""Results tables over run directories: each setting's final-epoch metric, over seeds.

Where the runs held out a validation split (``val_split``), a table also gives the test metric at
each run's best validation epoch (the BA2M paper's protocol; the test set never chooses the
epoch), "—" in a row whose runs do not all have one; no column when no row has one.

The metric is the task's primary one, as its runs' ``summary.json`` declares it: for
classification the top-1 error (100 - top-1 accuracy, lower is better) with the top-5 error
beside it, for another task its ``primary_metric`` and direction. One table holds one metric.

A row is one setting: the runs whose configs are equal apart from ``seed`` and ``out_dir``. Runs of
one model, attention and dataset with other differences (lr, epochs, an attention option) are
refused rather than pooled, unless the caller asks for one row per setting.

Each row with attention is compared with its baseline, the setting whose config is the same but
for the attention and its options: the difference of the metric's means with Welch's 95% interval
and p-value, and the smallest difference its seeds could detect (:mod:`.stats`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..markdown import table
from ..run_keys import RESUMABLE_CHANGES
from ..validation import AttnzooError
from .published import PublishedTable
from .stats import Difference, Summary, summarize, welch

# What may differ between the runs of one row: seeds are the repeats, out_dir is where they went,
# and the settings a run may change on resume do not change what it computes.
PER_RUN_KEYS = ("seed", "out_dir", *sorted(RESUMABLE_CHANGES))
SUMMARY_KEYS = ("model", "attention", "seed", "params", "wall_seconds", "config")
# A config key one run has and another lacks (written before the key existed); not JSON, so it
# equals no value.
ABSENT = "absent"
ATTENTION_KEYS = ("attention", "attention_options")  # all a row and its baseline may differ in
# A summary's numbers that describe the run, not its results.
RUN_NUMBERS = ("seed", "epochs", "params", "wall_seconds", "world_size")


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
            raise AttnzooError(f"corrupt {path}: {err}") from None
        missing = [k for k in (*SUMMARY_KEYS, *metric_of(summary).keys) if k not in summary]
        if missing:
            raise AttnzooError(f"corrupt {path}: no {', '.join(missing)}")
        summaries.append({**summary, "run_dir": str(run)})
    return summaries


@dataclass(frozen=True)
class Metric:
    """What a table compares, as it shows it: classification's top-1 (and top-5) error."""

    name: str  # the CSV columns' prefix
    label: str  # the Markdown header's
    lower_is_better: bool
    keys: tuple[str, ...]  # the summary.json values it is read from: primary, secondary

    @property
    def names(self) -> tuple[str, ...]:
        """What the values are called (the CSV's and the published tables' names)."""
        return ("top1_err", "top5_err") if self is TOP1_ERR else self.keys

    def values(self, summary: dict[str, Any]) -> tuple[float, ...]:
        if self is TOP1_ERR:
            return tuple(100 - summary[k] for k in self.keys)
        return tuple(summary[k] for k in self.keys)


TOP1_ERR = Metric("top1_err", "top-1 err %", True, ("top1", "top5"))
LABELS = {"top1_err": "top-1 err %", "top5_err": "top-5 err %"}  # headers of the paper's columns

# Where a run's summary.json holds the test metrics of each measure: the final epoch at its top
# level; "best", the epoch of the best validation metric (a run with a val_split); "kept_on", the
# final epoch with the modules switched off at inference kept on (BA2M's batch softmax).
MEASURES = {"final": (), "best": ("best", "test"), "kept_on": ("kept_on",)}
MEASURE_LABELS = {"final": "", "best": "best epoch", "kept_on": "kept on at test"}


def measure_metrics(summary: dict[str, Any], measure: str) -> dict[str, Any] | None:
    """The test metrics of ``measure`` (see :data:`MEASURES`) in a run's summary, or None where
    the run does not record it."""
    if measure not in MEASURES:
        raise AttnzooError(f"measure {measure!r} is unknown; valid: {', '.join(MEASURES)}")
    found: dict[str, Any] | None = summary
    for key in MEASURES[measure]:
        found = found.get(key) if found is not None else None
    return found


def metric_of(summary: dict[str, Any]) -> Metric:
    """The metric a run's table compares: its task's primary metric (runs written before tasks
    existed are classification runs)."""
    if summary.get("task", "classification") == "classification":
        return TOP1_ERR
    name = summary.get("primary_metric", "?")
    return Metric(name, name, not summary.get("higher_is_better", True), (name,))


@dataclass(frozen=True)
class Row:
    """One setting: its final-epoch test metric over its seeds (classification: top-1 error in %,
    and the top-5 error as ``secondary``)."""

    model: str
    attention: str
    data: str
    task: str
    setting: str  # the config values that set this row apart from others of its label, or ""
    run_dirs: tuple[str, ...]
    seeds: tuple[int, ...]
    metric: Metric
    primary: Summary
    secondary: Summary | None
    params: int
    wall_seconds: float  # median
    base: str  # the config but its attention: what a row and its baseline share
    # Every result its runs all have, per run: the metric's values by name, the summary's others.
    measured: dict[str, tuple[float, ...]] = field(compare=False)
    # The test metric at each run's best validation epoch; None unless every run held out a
    # validation split (then a table shows "—").
    best: Summary | None = None

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
            raise AttnzooError(
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


def _measured(runs: list[dict[str, Any]], metric: Metric) -> dict[str, tuple[float, ...]]:
    """The numbers every run's summary has, by name, but those describing the run; the metric's
    values under its names (classification: the errors beside the accuracies)."""
    numbers = [
        {k: v for k, v in r.items() if type(v) in (int, float) and k not in RUN_NUMBERS}
        for r in runs
    ]
    shared = set(numbers[0]).intersection(*numbers)
    measured = {k: tuple(n[k] for n in numbers) for k in sorted(shared)}
    values = zip(*(metric.values(r) for r in runs), strict=True)
    return measured | dict(zip(metric.names, values, strict=True))


def _run_dir(summary: dict[str, Any]) -> str:
    # A summary straight from train() has no run_dir; its out_dir is where it was written.
    return summary.get("run_dir", summary["config"]["out_dir"])


def _row(label: tuple[str, str, str], setting: str, runs: list[dict[str, Any]]) -> Row:
    metric = metric_of(runs[0])
    measured = _measured(runs, metric)
    values = [measured[name] for name in metric.names]
    return Row(
        *label,
        task=runs[0].get("task", "classification"),
        setting=setting,
        run_dirs=tuple(_run_dir(r) for r in runs),
        seeds=tuple(r["seed"] for r in runs),
        metric=metric,
        primary=summarize(values[0]),
        secondary=summarize(values[1]) if len(values) > 1 else None,
        params=runs[0]["params"],
        wall_seconds=statistics.median(r["wall_seconds"] for r in runs),
        base=json.dumps(
            {k: v for k, v in _setting(runs[0]).items() if k.split(".")[0] not in ATTENTION_KEYS},
            sort_keys=True,
        ),
        measured=measured,
        best=_best(metric, runs),
    )


def _best(metric: Metric, runs: list[dict[str, Any]]) -> Summary | None:
    found = [measure_metrics(r, "best") for r in runs]
    if any(f is None for f in found):
        return None
    return summarize([metric.values(f)[0] for f in found])


def remeasured(row: Row, summaries: dict[str, dict[str, Any]], measure: str) -> Row:
    """``row`` with its metric read from each run's ``measure`` (:data:`MEASURES`; run
    directories' summaries in ``summaries``), its setting labelled with it; an AttnzooError names
    a run that does not record it."""
    found = [measure_metrics(summaries[d], measure) for d in row.run_dirs]
    missing = [d for d, f in zip(row.run_dirs, found, strict=True) if f is None]
    if missing:
        raise AttnzooError(
            f"{row.model} + {row.attention}: {len(missing)} of its {row.n} runs record no "
            f"{measure!r} test metrics in summary.json (e.g. {missing[0]}): trained before they "
            "were recorded, or without what they need (a val_split; a module off at inference)"
        )
    if measure == "final":
        return row
    values = list(zip(*(row.metric.values(f) for f in found), strict=True))
    return dataclasses.replace(
        row,
        setting=", ".join(filter(None, (row.setting, MEASURE_LABELS[measure]))),
        primary=summarize(values[0]),
        secondary=summarize(values[1]) if len(values) > 1 else None,
    )


def baseline_errors(row: Row, pool: Iterable[Row]) -> dict[int, float] | None:
    """The metric's values by seed of ``row``'s baseline among ``pool``: the rows without
    attention whose config is ``row``'s but for the attention. Several such rows (a sweep may copy
    another's runs) are merged by seed, the first one's run of a seed kept; None if ``row`` has no
    attention or ``pool`` no baseline."""
    if row.attention == "none":
        return None
    errors: dict[int, float] = {}
    for other in pool:
        if other.attention == "none" and other.base == row.base:
            for seed, error in zip(other.seeds, other.primary.values, strict=True):
                errors.setdefault(seed, error)
    return errors or None


def versus_baseline(row: Row, pool: Iterable[Row]) -> Difference | None:
    """Welch's comparison of ``row``'s metric with its baseline's (:func:`baseline_errors`):
    negative where the attention lowers it (the error, for classification)."""
    errors = baseline_errors(row, pool)
    return None if errors is None else welch(row.primary.values, list(errors.values()))


def table_metric(rows: Sequence[Row]) -> Metric:
    """The one metric ``rows`` share; a ValueError names two rows that compare different ones."""
    metrics = {r.metric for r in rows}
    if len(metrics) > 1:
        a, b = (next(r for r in rows if r.metric == m) for m in list(metrics)[:2])
        raise AttnzooError(
            f"{a.model} + {a.attention} ({a.metric.label}) and {b.model} + {b.attention} "
            f"({b.metric.label}) measure different metrics: give the runs of one task"
        )
    return metrics.pop() if metrics else TOP1_ERR


def markdown(
    rows: Sequence[Row], published: PublishedTable | None = None, pool: Sequence[Row] | None = None
) -> str:
    """A Markdown table of ``rows``: the metric's mean with its 95% interval, median and range
    (classification: top-1 error, and top-5's mean and interval), and each row against its
    baseline (found among ``pool``, default ``rows``). With ``published`` (see
    ``published_table``), each metric the paper reports: our median where the table does not
    already show it, the paper's figure and our median minus it (blank where the paper has no
    such row)."""
    metric, settings = table_metric(rows), any(r.setting for r in rows)
    secondary = metric.label.replace("top-1", "top-5") if len(metric.keys) > 1 else None
    head = ["model", "attention", "data", *(["setting"] * settings), "seeds"]
    best = any(r.best is not None for r in rows)
    head += [f"{metric.label} mean [95% CI]", "median (min-max)"]
    head += [f"best-epoch {metric.label} mean [95% CI]", "best-epoch median (min-max)"] * best
    head += [f"{secondary} mean [95% CI]"] * (secondary is not None)
    head += ["params (M)", "time (s)"]
    head += [f"{metric.label.split()[0]} vs baseline [95% CI]", "p (Welch)", "detectable (80%)"]
    if published is not None:
        for name, ours in _paper_metrics(rows, published):
            label = LABELS.get(name, name)
            head += [label] * ours + [f"paper {label}", "ours - paper"]
    body = []
    for r in rows:
        cells = [r.model, r.attention, r.data, *([r.setting] * settings), str(r.n)]
        cells += _summary_cells(r.primary)
        cells += (["—", "—"] if r.best is None else _summary_cells(r.best)) * best
        cells += [] if r.secondary is None else [mean_interval(r.secondary)]
        cells += [f"{r.params / 1e6:.3f}", f"{r.wall_seconds:.0f}"]
        cells += difference_cells(versus_baseline(r, rows if pool is None else pool))
        if published is not None:
            cells += [_fmt(v, spec) for v, spec in _versus_paper(r, published)]
        body.append(cells)
    return table(head, body)


def _summary_cells(s: Summary) -> list[str]:
    return [mean_interval(s), f"{s.median:.2f} ({spread(s)})"]


def mean_interval(s: Summary) -> str:
    """``mean [low, high]``, or the mean alone for one run."""
    return f"{s.mean:.2f}" + ("" if s.low is None else f" [{s.low:.2f}, {s.high:.2f}]")


def spread(s: Summary) -> str:
    return f"{s.min:.2f}-{s.max:.2f}"


def difference_cells(d: Difference | None) -> list[str]:
    """Difference with its interval, p-value and detectable difference; blanks where undefined."""
    if d is None:
        return ["", "", ""]
    shown = f"{d.diff:+.2f}" + ("" if d.low is None else f" [{d.low:+.2f}, {d.high:+.2f}]")
    return [shown, _fmt(d.p, ".3f"), _fmt(d.detectable, ".2f")]


def csv_text(
    rows: Sequence[Row], published: PublishedTable | None = None, pool: Sequence[Row] | None = None
) -> str:
    """``rows`` as CSV, every statistic in its own column (blank: none, e.g. std of one run)."""
    metric = table_metric(rows)
    names = metric.names
    stats = ("median", "mean", "std", "min", "max", "low", "high")
    versus = ("diff", "low", "high", "p", "df", "detectable", "n_b")
    head = ["model", "attention", "data", "setting", "n", "seeds"]
    best = any(r.best is not None for r in rows)
    head += [f"{m}_{s}" for m in names for s in stats]
    head += [f"best_epoch_{names[0]}_{s}" for s in stats] * best
    head += ["params", "wall_seconds_median", "run_dirs"]
    head += [f"baseline_{v}" for v in versus]
    if published is not None:
        for name, ours in _paper_metrics(rows, published):
            head += [f"{name}_median"] * ours + [f"paper_{name}", f"diff_{name}"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    for r in rows:
        cells = [r.model, r.attention, r.data, r.setting, r.n, " ".join(map(str, r.seeds))]
        measures = (r.primary, r.secondary)[: len(names)]
        cells += [_number(getattr(m, s)) for m in measures for s in stats]
        cells += [_number(None if r.best is None else getattr(r.best, s)) for s in stats] * best
        cells += [r.params, _number(r.wall_seconds), ";".join(r.run_dirs)]
        d = versus_baseline(r, rows if pool is None else pool)
        cells += [_number(None if d is None else getattr(d, v)) for v in versus]
        if published is not None:
            cells += [_number(v) for v, _ in _versus_paper(r, published)]
        writer.writerow(cells)
    return out.getvalue()


def _paper_metrics(rows: Sequence[Row], table: PublishedTable) -> list[tuple[str, bool]]:
    """The metrics ``table`` reports, each with whether it needs a column of ours (the metric's
    own columns show the others); refuses rows of another task or without those metrics."""
    metric = table_metric(rows)
    for r in rows:
        missing = [m for m in table.metrics if m not in r.measured]
        if r.task != table.task or missing:
            lacking = f" without {', '.join(missing)}" if missing else ""
            raise AttnzooError(
                f"published table {table.id} holds {table.task} results "
                f"({', '.join(table.metrics)}): {r.model} + {r.attention} is a {r.task} run"
                f"{lacking}"
            )
    return [(m, m not in metric.names) for m in table.metrics]


def _versus_paper(row: Row, table: PublishedTable) -> list[tuple[float | None, str]]:
    """Per metric of ``table``: our median where :func:`_paper_metrics` asks for it, the paper's
    figure and ours minus it (None where the paper has no row for ``row``'s model, attention
    and config), each with its format."""
    config = {k: json.loads(v) for k, v in json.loads(row.base).items()}
    paper = table.find(row.model, row.attention, config)
    cells: list[tuple[float | None, str]] = []
    for name in table.metrics:
        ours = statistics.median(row.measured[name])
        theirs = None if paper is None else paper.values[name]
        cells += [(ours, ".2f")] * (name not in row.metric.names)
        cells += [(theirs, ".2f"), (None if theirs is None else ours - theirs, "+.2f")]
    return cells


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _number(value: float | None) -> str:
    # Four decimals: 100 - 82.4 is 17.599999999999994, which no reader wants.
    return "" if value is None else f"{value:.4f}".rstrip("0").rstrip(".")
