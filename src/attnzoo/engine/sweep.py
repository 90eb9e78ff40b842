"""Sweeps: a grid of models x attention x seeds, run as resumable training subprocesses.

Each run lives in ``<root>/<model>/<attention>/s<seed>`` with the exact configuration it was
started with (``config.yaml``) and its own log (``train.log``). Running a sweep again skips the
finished runs (a ``summary.json`` whose config matches), resumes unfinished ones from their
checkpoints, and retries a crashed one before reporting it; a failed run is never counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import RESUMABLE_CHANGES, TrainConfig, read_config_file
from .local import run_local


@dataclass(frozen=True)
class SweepRun:
    config: TrainConfig
    variant: str = ""  # the ablation variant it belongs to, if any

    @property
    def out_dir(self) -> Path:
        return Path(self.config.out_dir)

    @property
    def label(self) -> str:
        attention = "+".join(self.config.attention) or "none"
        variant = f" [{self.variant}]" if self.variant else ""
        return f"{self.config.model} + {attention}, seed {self.config.seed}{variant}"


@dataclass(frozen=True)
class Outcome:
    run: SweepRun
    status: str  # "done" (already finished), "finished", "failed"
    detail: str = ""


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
        raise ValueError(f"sweep: seeds must be at least 1, got {seeds}")
    if not models or not attention:
        raise ValueError("sweep: needs at least one model and one attention setting")
    grids = {"": (base, attention)}
    if variants is not None:
        if not variants:
            raise ValueError("sweep: variants, when given, needs at least one")
        grids = {}
        for name, values in variants.items():
            own = [parse_names(a) for a in values["attention"]] if "attention" in values else None
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
    label = "+".join(names) or "none"
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
        raise ValueError(f"sweep: run directory {out_dir} escapes {root}")
    config = TrainConfig.from_dict(values)
    config.validate()  # every run of the grid is checked before any starts
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
) -> tuple[list[SweepRun], str | None, Path]:
    """The runs of a config file's ``sweep`` section, with any of its settings overridden (and
    only the named ``variants``, if it has some), the published table they are compared with (or
    None), and the sweep's results directory."""
    values = read_config_file(name)
    grid = values.pop("sweep", None) or {}
    unknown = sorted(set(grid) - {"models", "attention", "seeds", "published", "variants", "slurm"})
    if unknown:
        raise ValueError(f"config {name}: unknown sweep key(s) {', '.join(unknown)}")
    chosen = _variants(name, grid.get("variants"), variants)
    values.update(overrides or {})
    root = root or Path("results") / Path(name).stem
    runs = plan_sweep(
        values,
        models=models or grid.get("models") or [values.get("model", "resnet20")],
        attention=attention or [parse_names(a) for a in grid.get("attention", ["none"])],
        seeds=seeds or grid.get("seeds", 1),
        root=root,
        variants=chosen,
    )
    return runs, grid.get("published"), root


def _variants(
    name: str, declared: Any, wanted: Sequence[str] | None
) -> dict[str, dict[str, Any]] | None:
    if declared is None:
        if wanted:
            raise ValueError(f"config {name}: has no sweep variants to choose from")
        return None
    if not isinstance(declared, dict) or not all(
        isinstance(k, str) and isinstance(v, dict | None) for k, v in declared.items()
    ):
        raise ValueError(f"config {name}: sweep variants must map names to settings")
    unknown = sorted(set(wanted or ()) - set(declared))
    if unknown:
        raise ValueError(
            f"config {name}: no variant(s) {', '.join(unknown)}; it has {', '.join(declared)}"
        )
    return {k: dict(v or {}) for k, v in declared.items() if not wanted or k in wanted}


def parse_names(value: str | list[str]) -> list[str]:
    """One attention setting: ``"none"``, ``"se"``, ``"se+ba2m"`` or a list of names."""
    if isinstance(value, list):
        return [str(v) for v in value]
    return [] if value == "none" else value.split("+")


def is_finished(run: SweepRun) -> bool:
    """A summary exists and was written for exactly this configuration."""
    path = run.out_dir / "summary.json"
    if not path.is_file():
        return False
    try:
        saved = json.loads(path.read_text())["config"]
    except (json.JSONDecodeError, KeyError):
        return False
    current = run.config.to_dict()
    return all(saved.get(k) == v for k, v in current.items() if k not in RESUMABLE_CHANGES)


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
    threads (default: its share of the cores) and ``gpus_per_run`` GPUs of its own (see
    :mod:`.local`)."""
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
