"""Sweeps: a config's grid of models x attention x seeds, from expansion to its results table.

The whole life of a sweep is here: :func:`sweep_from_file` expands a config's ``sweep`` section
into runs, each in ``<root>/[<variant>/]<model>/<attention>/s<seed>`` with the exact
configuration it starts with (``config.yaml``); :func:`execute_sweep` moves an earlier sweep aside
when asked, records the sweep in ``sweep.json``, trains the unfinished runs on an executor (this
machine, :mod:`.local`, or Slurm, :mod:`.slurm`), collects every run's outcome and has the tables
written. Finished runs (a ``summary.json`` of the same configuration) are reused, unfinished ones
resume from their checkpoints, a crashed one is retried before it is reported; a failed run is
never counted. Nothing is deleted: an earlier sweep is moved aside, never replaced.

The tables come from the report layer, which the engine may not import: the caller hands in the
function that writes them (``attnzoo sweep`` gives :func:`attnzoo.report.document.write_tables`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..attention.spec import parse_settings, spec_name
from ..io import write_json
from ..machine import code_version
from ..run_keys import SWEEP_FILE, read_sweep_record
from ..validation import AttnzooError
from .config import TrainConfig, changes_since
from .config_files import config_path, read_config_file
from .local import run_local
from .provenance import check_code, utc_now, write_plan
from .rundir import move_aside
from .slurm import RunStatus, SlurmOptions, job_id, queue, run_status, submit, wait
from .task import check_config

EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class SweepRun:
    config: TrainConfig
    variant: str = ""  # the ablation variant it belongs to, if any

    @property
    def out_dir(self) -> Path:
        return Path(self.config.out_dir)

    @property
    def label(self) -> str:
        attention = spec_name(self.config.attention)
        variant = f" [{self.variant}]" if self.variant else ""
        return f"{self.config.model} + {attention}, seed {self.config.seed}{variant}"


@dataclass(frozen=True)
class Outcome:
    run: SweepRun
    status: str  # "done" (already finished), "finished", "failed"; Slurm: "submitted", "queued"
    detail: str = ""


@dataclass(frozen=True)
class Sweep:
    """A config's grid, expanded: its runs and what its tables need."""

    name: str  # the config, as given
    runs: list[SweepRun]
    root: Path  # the results directory
    published: str | None = None  # the published table its results are compared with
    description: str | None = None
    variants: list[str] | None = None  # all of the config's variants, in order: the table's rows

    @property
    def seeds(self) -> int:
        """The seed count it was planned with (its seeds are 0 .. seeds - 1)."""
        return 1 + max((r.config.seed for r in self.runs), default=-1)


def plan_sweep(
    base: dict[str, Any],
    *,
    models: Sequence[str],
    attention: Sequence[Sequence[str]],
    seeds: int,
    root: Path,
    variants: dict[str, dict[str, Any]] | None = None,
) -> list[SweepRun]:
    """One validated TrainConfig per (model, attention, seed), each with its own directory.

    ``variants`` (an ablation) repeats the grid once per named set of settings laid over
    ``base`` (mappings such as ``attention_options`` merged key by key, so that a variant changes
    one option and keeps the others); a variant's ``attention`` replaces the grid's settings for
    it. Its runs go in ``<root>/<variant>/<model>/<attention>/s<seed>``.
    """
    if seeds < 1:
        raise AttnzooError(f"sweep: seeds must be at least 1, got {seeds}")
    if not models or not attention:
        raise AttnzooError("sweep: needs at least one model and one attention setting")
    grids = {"": (base, attention)}
    if variants is not None:
        if not variants:
            raise AttnzooError("sweep: variants, when given, needs at least one")
        grids = {}
        for name, values in variants.items():
            own = parse_settings(values["attention"]) if "attention" in values else None
            settings = {k: v for k, v in values.items() if k != "attention"}
            grids[name] = (_overlay(base, settings), own or attention)
    runs = []
    # Seeds outermost: a sweep stopped early has every setting with as many seeds as possible.
    for seed in range(seeds):
        for variant, (values, settings) in grids.items():
            runs += [
                _plan_run(values, model, names, seed, root, variant)
                for model in models
                for names in settings
            ]
    return runs


def _overlay(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it, nested mappings merged rather than replaced."""
    merged = dict(base)
    for key, value in changes.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _overlay(merged[key], value) if both else value
    return merged


def _plan_run(
    base: dict[str, Any], model: str, names: Sequence[str], seed: int, root: Path, variant: str
) -> SweepRun:
    label = spec_name(names)
    values = {
        **base,
        "model": model,
        "attention": list(names),
        # Options only for the modules this run has: the config refuses strays.
        "attention_options": {
            k: v for k, v in base.get("attention_options", {}).items() if k in names
        },
        "seed": seed,
        "resume": "auto",
        "out_dir": str(root / variant / model / label / f"s{seed}"),
    }
    out_dir = Path(values["out_dir"]).resolve()
    if not out_dir.is_relative_to(root.resolve()):  # a name with "/" or ".."
        raise AttnzooError(f"sweep: run directory {out_dir} escapes {root}")
    config = TrainConfig.from_dict(values)
    check_config(config)  # every run of the grid is checked before any starts
    return SweepRun(config, variant)


def sweep_from_file(
    name: str,
    *,
    root: Path | None = None,
    seeds: int | None = None,
    models: Sequence[str] | None = None,
    attention: Sequence[Sequence[str]] | None = None,
    overrides: dict[str, Any] | None = None,
    variants: Sequence[str] | None = None,
) -> Sweep:
    """The sweep of a config file's ``sweep`` section, with any of its settings overridden (and
    only the named ``variants``, if it has some); its results go in ``root`` (default
    ``results/<config>``)."""
    values = read_config_file(name)
    grid = values.pop("sweep", None) or {}
    unknown = sorted(set(grid) - {"models", "attention", "seeds", "published", "variants", "slurm"})
    if unknown:
        raise AttnzooError(f"config {name}: unknown sweep key(s) {', '.join(unknown)}")
    chosen = _variants(name, grid.get("variants"), variants)
    values.update(overrides or {})
    root = root or Path("results") / Path(name).stem
    runs = plan_sweep(
        values,
        models=models or grid.get("models") or [values.get("model", "resnet20")],
        attention=attention or parse_settings(grid.get("attention", ["none"])),
        seeds=seeds or grid.get("seeds", 1),
        root=root,
        variants=chosen,
    )
    # read_config_file leaves the description out: it is the file's own, never inherited.
    description = yaml.safe_load(config_path(name).read_text()).get("description")
    declared = list(grid["variants"]) if grid.get("variants") else None
    return Sweep(name, runs, root, grid.get("published"), description, declared)


def _variants(
    name: str, declared: Any, wanted: Sequence[str] | None
) -> dict[str, dict[str, Any]] | None:
    if declared is None:
        if wanted:
            raise AttnzooError(f"config {name}: has no sweep variants to choose from")
        return None
    if not isinstance(declared, dict) or not all(
        isinstance(k, str) and isinstance(v, dict | None) for k, v in declared.items()
    ):
        raise AttnzooError(f"config {name}: sweep variants must map names to settings")
    unknown = sorted(set(wanted or ()) - set(declared))
    if unknown:
        raise AttnzooError(
            f"config {name}: no variant(s) {', '.join(unknown)}; it has {', '.join(declared)}"
        )
    return {k: dict(v or {}) for k, v in declared.items() if not wanted or k in wanted}


def is_finished(run: SweepRun) -> bool:
    """A summary exists and was written for this very run (:func:`.config.changes_since`)."""
    path = run.out_dir / "summary.json"
    if not path.is_file():
        return False
    try:
        saved = json.loads(path.read_text())["config"]
    except (json.JSONDecodeError, KeyError):
        return False
    return not changes_since(saved, run.config)


def run_sweep(
    runs: Sequence[SweepRun],
    *,
    jobs: int = 1,
    retries: int = 1,
    threads: int | None = None,
    gpus_per_run: int | None = None,
    report: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Run every unfinished run on this machine, ``jobs`` at a time, each with ``threads`` CPU
    threads (default: its share of the cores, at most ``OMP_NUM_THREADS``) and ``gpus_per_run``
    GPUs of its own (see :mod:`.local`)."""
    outcomes = [Outcome(r, "done") for r in runs if is_finished(r)]
    for outcome in outcomes:
        report(outcome)
    todo = [r for r in runs if not is_finished(r)]

    def done(index: int, ok: bool, detail: str) -> None:
        run = todo[index]
        outcome = Outcome(run, "finished" if ok and is_finished(run) else "failed", detail)
        report(outcome)
        outcomes.append(outcome)

    run_local([r.config for r in todo], jobs, retries, threads, gpus_per_run, done)
    return outcomes


def sweep_status(runs: Sequence[SweepRun]) -> list[RunStatus]:
    """Each run's state (missing, pending, running, done or failed) and Slurm job; submits
    nothing. Without Slurm here, nothing is queued."""
    jobs = queue() if shutil.which("squeue") else {}
    return [run_status(r.out_dir, is_finished(r), jobs) for r in runs]


def run_sweep_slurm(
    runs: Sequence[SweepRun],
    folder: Path,
    options: SlurmOptions,
    *,
    retries: int = 1,
    block: bool = True,
    report: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Submit the runs that are neither finished nor in the queue, as one job array; with
    ``block``, wait for every queued run and return every run's outcome, else the finished ones
    (the others are "submitted" or "queued"). A job Slurm can never start ends the wait with
    OSError (see :func:`.slurm.never_starts`)."""
    before = sweep_status(runs)
    todo = [r for r, s in zip(runs, before, strict=True) if s.state in ("missing", "failed")]
    if todo:
        submit([r.config for r in todo], folder, options, retries)
    outcomes = []
    for r, s in zip(runs, before, strict=True):
        if s.state == "done":
            outcomes.append(Outcome(r, "done"))
        elif not block:
            outcomes.append(Outcome(r, "submitted" if r in todo else "queued", s.job_id or ""))
    for outcome in outcomes:
        report(outcome)
    if not block:
        return outcomes
    waiting = [r for r, s in zip(runs, before, strict=True) if s.state != "done"]
    wait([job_id(r.out_dir) or "" for r in waiting])
    after = sweep_status(waiting)
    for r, s in zip(waiting, after, strict=True):
        outcome = Outcome(r, "finished" if s.state == "done" else "failed", s.detail)
        report(outcome)
        outcomes.append(outcome)
    return outcomes


@dataclass(frozen=True)
class Execution:
    """Where a sweep's runs train and how: this machine (``local``) or Slurm job arrays."""

    executor: str = "local"
    retries: int = 1  # retries of a crashed run (each resumes from its checkpoint)
    jobs: int = 1  # local: runs at once
    threads: int | None = None  # local: threads per run (default: cores / jobs, <= OMP_NUM_THREADS)
    gpus_per_run: int | None = None  # local: GPUs of each run (default: 1 where there are GPUs)
    slurm: SlurmOptions | None = None  # slurm: what each job asks (default: the config's)
    wait: bool = True  # slurm: wait for the jobs and collect them; else submit and return


@dataclass(frozen=True)
class SweepResult:
    outcomes: list[Outcome]
    table: str | None  # the Markdown table of every finished run under the root, if written

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def reused(self) -> int:
        """Runs finished before this sweep started."""
        return sum(o.status == "done" for o in self.outcomes)


def execute_sweep(
    sweep: Sweep,
    execution: Execution = Execution(),
    *,
    fresh: bool = False,
    command: str = "",
    report: Callable[[Outcome], None] = lambda outcome: None,
    note: Callable[[str], None] = lambda text: None,
    tables: Callable[[Path], str] | None = None,
) -> SweepResult:
    """Run ``sweep`` to its tables: refuse dirty code for runs under ``results/`` (see
    :func:`.provenance.check_code`), move its root aside first if ``fresh`` (saying where through
    ``note``), record it in ``sweep.json`` with ``command`` (the one that reproduces it) and its
    unfinished runs' plans (:func:`record_plans`), train them as ``execution`` says, calling
    ``report`` with each run's outcome, then, unless Slurm jobs were left to run, call
    ``tables(root)``: it writes the tables of every finished run under the root (so that a re-run
    of part of the grid never shrinks them) and returns the Markdown one. Raises OSError when
    Slurm refuses a job or can never start one."""
    if execution.executor not in EXECUTORS:
        raise AttnzooError(f"sweep: executor {execution.executor!r} is not one of {EXECUTORS}")
    todo = [r for r in sweep.runs if fresh or not is_finished(r)]
    code = code_version()
    for run in todo:  # before anything is moved or written
        check_code(run.config, code)
    if fresh and sweep.root.exists():
        note(f"fresh: moved {sweep.root} aside to {move_aside(sweep.root)}")
    record_sweep(sweep, command, trained=bool(todo))
    record_plans(todo, sweep.seeds)
    if execution.executor == "local":
        outcomes = run_sweep(
            sweep.runs,
            jobs=execution.jobs,
            retries=execution.retries,
            threads=execution.threads,
            gpus_per_run=execution.gpus_per_run,
            report=report,
        )
    else:
        options = execution.slurm or SlurmOptions.from_config(sweep.name, {})
        outcomes = run_sweep_slurm(
            sweep.runs,
            sweep.root / ".slurm",
            options,
            retries=execution.retries,
            block=execution.wait,
            report=report,
        )
    collected = execution.executor == "local" or execution.wait
    wrote = tables and collected and any(o.status != "failed" for o in outcomes)
    return SweepResult(outcomes, tables(sweep.root) if wrote else None)


def record_plans(runs: Sequence[SweepRun], seeds: int) -> None:
    """Record in each of ``runs`` not planned before that this sweep invocation plans it: now,
    for ``seeds`` seeds (:func:`.provenance.write_plan`); a run planned before keeps its plan."""
    now = utc_now()
    for run in runs:
        write_plan(run.out_dir, seeds=seeds, by="sweep", at=now)


def record_sweep(sweep: Sweep, command: str, trained: bool) -> dict[str, Any]:
    """Write ``sweep.json``: what the sweep is and the commands that trained its runs, appended
    to the earlier ones (a re-run that trained nothing, or the same command, leaves them)."""
    old = read_sweep_record(sweep.root)
    before = old.get("command")
    if before and (not trained or not command or command in before):
        command = before
    elif before:
        command = f"{before}, then {command}"
    meta = {"config": sweep.name, "description": sweep.description, "published": sweep.published}
    if sweep.variants:
        meta["variants"] = sweep.variants
    if command:
        meta["command"] = command
    if meta != old:
        write_json(sweep.root / SWEEP_FILE, meta)
    return meta
