"""docs/results.md: one section per sweep, each with its scale, machine, command and table.

Generated from the JSON summaries a sweep leaves in ``results/<config>/``, never written by hand:
``attnzoo report results/* --out docs/results.md``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io import atomic_write_text
from ..run_keys import read_sweep_record
from .provenance import provenance_sentence
from .published import PublishedTable, published_table
from .tables import Row, aggregate, csv_text, find_runs, markdown, read_summaries

STATISTICS = (
    "Each row gives the mean top-1 error with its 95% t interval over the seeds, and the median "
    "with the range. A row with attention is compared with its baseline (any sweep's runs of the "
    "same config without the attention, merged by seed): the difference of the mean errors "
    "(negative: the attention lowers the error) with Welch's 95% interval, the two-sided p-value "
    "of Welch's t-test, and the detectable difference: the true difference Welch's test at alpha "
    "0.05 would find with 80% probability if the seeds' true spread were the observed one (a "
    "smaller one is more often missed than found; an undecided comparison does not show that "
    "the true difference is smaller). The errors are the final epoch's; where runs held out a "
    "validation split of their training images (`val_split`), the best-epoch columns give the "
    "test error at the epoch of the lowest validation error, the BA2M paper's protocol, chosen "
    "without looking at the test set."
)


def best_epoch_sentence(summaries: list[dict[str, Any]]) -> str:
    """Which of ``summaries`` held out a validation split (and so have a best-epoch error), and
    of how many training images, as a sentence."""
    held = [s for s in summaries if "best" in s]
    if not held:
        return (
            "No run here held out a validation split (`val_split`): final-epoch errors only, "
            "no best-epoch error."
        )
    sizes = "/".join(sorted({f"{s['data']['val_images']:,}" for s in held}))
    text = (
        f"Best epoch: each run's test error at the epoch of its lowest error on {sizes} "
        "training images held out as a validation split (never trained on)."
    )
    if len(held) < len(summaries):
        text += (
            f" {len(summaries) - len(held)} of the {len(summaries)} runs held out none: a row "
            "with such a run shows — there."
        )
    return text


def _scale(summaries: list[dict[str, Any]]) -> str:
    def each(section: str, key: str) -> str:
        """The one value of a setting, or each distinct one joined by "/" (an ablation may vary
        the batch size, say)."""
        values = sorted({s[section][key] for s in summaries})
        return "/".join(f"{v:,}" if isinstance(v, int) else str(v) for v in values)

    return (
        f"Scale: `{each('config', 'data')}`, {each('data', 'train_images')} training and "
        f"{each('data', 'test_images')} test images, {each('config', 'epochs')} epochs, batch "
        f"{each('config', 'batch_size')}, lr {each('config', 'lr')} "
        f"({each('config', 'schedule')}), augmentation `{each('config', 'augment')}`."
    )


def _where(machine: dict[str, Any]) -> str:
    device = machine.get("gpu") or f"{machine['cpu']}, {machine['cores']} cores"
    return f"{device}, torch {machine['torch']}"


def _machine(summaries: list[dict[str, Any]]) -> str:
    """Every machine the runs were measured on, with its number of runs where there are several:
    a sweep may be finished on another machine than the one that started it."""
    runs = Counter(_where(s["machine"]) for s in summaries if s.get("machine"))
    if not runs:
        return ""
    if len(runs) == 1:
        return f"Measured on {next(iter(runs))}."
    counts = (f"{key} ({n} run{'s' if n > 1 else ''})" for key, n in runs.items())
    return "Measured on " + "; ".join(counts) + "."


def sweep_rows(
    root: Path, summaries: list[dict[str, Any]], variants: list[str] | None = None
) -> list[Row]:
    """The table rows of ``summaries`` (from :func:`read_summaries`) of the sweep in ``root``.

    A sweep with ``variants`` (an ablation) gets one row per variant and setting, labelled by the
    variant's name, in the order the config lists them.
    """
    if not variants:
        return aggregate(summaries)
    rows = []
    for name in variants:
        mine = [s for s in summaries if Path(s["run_dir"]).is_relative_to(root / name)]
        if mine:
            rows += [dataclasses.replace(r, setting=name) for r in aggregate(mine)]
    return rows


@dataclass(frozen=True)
class Sweep:
    """One sweep directory as read: its record (``sweep.json``), summaries and rows."""

    root: Path
    meta: dict[str, Any]
    summaries: list[dict[str, Any]]
    rows: list[Row]


def read_sweep(root: str | Path) -> Sweep:
    """Read the sweep in ``root``: its ``sweep.json``, finished runs and table rows."""
    root = Path(root)
    meta = read_sweep_record(root)
    summaries = read_summaries(find_runs([root]))
    return Sweep(root, meta, summaries, sweep_rows(root, summaries, meta.get("variants")))


def sweep_section(sweep: Sweep, pool: list[Row] | None = None) -> str:
    """The Markdown section of one sweep; baselines are looked for among ``pool`` (default: the
    sweep's own rows), so that a variant is compared with a baseline another sweep ran."""
    meta, summaries = sweep.meta, sweep.summaries
    lines = [f"## {meta.get('config', sweep.root.name)}", ""]
    if meta.get("description"):
        lines += [" ".join(meta["description"].split()), ""]
    lines += [f"{_scale(summaries)} {_machine(summaries)}".rstrip(), ""]
    lines += [best_epoch_sentence(summaries), ""]
    lines += [provenance_sentence(summaries), ""]
    if meta.get("command"):
        lines += [f"Reproduce: `{meta['command']}`", ""]
    lines += [markdown(sweep.rows, _published(sweep), pool), ""]
    return "\n".join(lines)


def _published(sweep: Sweep) -> PublishedTable | None:
    name = sweep.meta.get("published")
    return published_table(name) if name else None


def write_tables(root: str | Path) -> str:
    """``results.md`` and ``results.csv`` of every finished run under the sweep in ``root``, each
    written only if it changes; returns the Markdown table."""
    sweep = read_sweep(root)
    table = markdown(sweep.rows, _published(sweep))
    csv = csv_text(sweep.rows, _published(sweep))
    for name, text in (("results.md", table + "\n"), ("results.csv", csv)):
        path = sweep.root / name
        if not path.is_file() or path.read_text() != text:
            atomic_write_text(path, text)
    return table


def results_document(roots: Iterable[str | Path]) -> str:
    """docs/results.md over the given sweep directories."""
    sweeps = [read_sweep(root) for root in roots]
    pool = [row for sweep in sweeps for row in sweep.rows]
    header = [
        "# Results",
        "",
        "Final-epoch test error over seeds (and, for runs that held out a validation split, "
        "the error at the best validation epoch beside it), generated by `attnzoo report` from "
        "the run summaries under `results/`. Each section gives the scale it was run at; none "
        "of them is the papers' full scale unless it says so.",
        "",
        f"{STATISTICS}",
        "",
    ]
    return "\n".join(header + [sweep_section(sweep, pool) for sweep in sweeps])
