"""``attnzoo sweep``: a config's grid of models x attention settings x seeds, then its tables.

Nothing already written is lost: finished runs are reused (and said so), ``--fresh`` moves the
sweep's directory aside rather than deleting it, and the tables are rebuilt from every finished
run under the sweep's root, so a re-run of a part of the grid never shrinks them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from ..attention.spec import key_value, parse_settings
from ..engine.config import config_path
from ..io import atomic_write_text
from .cluster import add_slurm_arguments
from .common import add_download_argument, say


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sweep", help="run a config's grid of models x attention x seeds")
    parser.add_argument(
        "config", help="experiment YAML with a sweep section: a named config or a path"
    )
    parser.add_argument("--seeds", type=int, help="seeds 0..N-1 (default: the config's)")
    parser.add_argument("--models", help="comma-separated backbones (default: the config's)")
    parser.add_argument(
        "--attention", help="settings separated by ',', modules combined by '+' (none,se,se+ba2m)"
    )
    parser.add_argument("--variants", help="comma-separated: only these of the config's variants")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a training setting for every run (e.g. epochs=10)",
    )  # fmt: skip
    add_download_argument(parser, default=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (threads shared)")
    parser.add_argument("--retries", type=int, default=1, help="retries of a crashed run")
    parser.add_argument("--threads", type=int, help="CPU threads per run (default: cores / jobs)")
    parser.add_argument("--root", type=Path, help="results directory (default results/<config>)")
    parser.add_argument(
        "--fresh", action="store_true",
        help="train every run afresh: the root is first moved aside to <root>.old-<time>",
    )  # fmt: skip
    parser.add_argument(
        "--executor", choices=("local", "slurm"), default="local",
        help="where runs train: this machine, or Slurm job arrays through submitit [local]",
    )  # fmt: skip
    parser.add_argument(
        "--gpus-per-run", type=int,
        help="GPUs of each run (local: its own CUDA_VISIBLE_DEVICES; default 1 with GPUs)",
    )  # fmt: skip
    parser.add_argument(
        "--no-wait", action="store_true",
        help="slurm: submit and return; rerun the sweep later for its tables",
    )  # fmt: skip
    parser.add_argument(
        "--status", action="store_true",
        help="show each run as missing, pending, running, done or failed; submits nothing",
    )  # fmt: skip
    add_slurm_arguments(parser)
    parser.set_defaults(func=run)


def _report(outcome: Any) -> None:
    extra = f": {outcome.detail}" if outcome.detail else ""
    say(f"  {outcome.status:>8}  {outcome.run.label}{extra}")


def _plan(args: argparse.Namespace) -> tuple[list, Any, Path]:
    from ..engine.sweep import sweep_from_file

    return sweep_from_file(
        args.config,
        root=args.root,
        seeds=args.seeds,
        models=args.models.split(",") if args.models else None,
        attention=parse_settings(args.attention, "--attention ") if args.attention else None,
        overrides=_overrides(args),
        variants=args.variants.split(",") if args.variants else None,
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--set`` values, with ``--[no-]download`` as ``download``."""
    overrides = dict(key_value(item, "--set") for item in args.set)
    if "download" in vars(args):
        overrides["download"] = args.download
    return overrides


def _move_aside(root: Path) -> None:
    if root.exists():
        old = root.with_name(f"{root.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        root.rename(old)
        say(f"--fresh: moved {root} aside to {old}")


def _execute(args: argparse.Namespace, runs: list, root: Path) -> list:
    """The sweep's runs on this machine, or on Slurm (``--executor slurm``)."""
    if args.executor == "local":
        from ..engine.sweep import run_sweep

        return run_sweep(
            runs, jobs=args.jobs, retries=args.retries, threads=args.threads,
            gpus_per_run=args.gpus_per_run, report=_report,
        )  # fmt: skip
    from ..engine.slurm import run_sweep_slurm
    from .cluster import slurm_options

    options = slurm_options(args, args.config, gpus_per_run=args.gpus_per_run)
    return run_sweep_slurm(
        runs, root / ".slurm", options, retries=args.retries, block=not args.no_wait,
        report=_report,
    )  # fmt: skip


def _status(runs: list) -> int:
    """Each run's state, Slurm job id and last error line; submits nothing."""
    from collections import Counter

    from ..engine.slurm import sweep_status

    statuses = sweep_status(runs)
    for item, status in zip(runs, statuses, strict=True):
        detail = f": {status.detail}" if status.detail else ""
        print(f"{status.state:>8}  {status.job_id or '-':>10}  {item.label}{detail}")
    counts = Counter(s.state for s in statuses)
    say(", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    return 0


def _record(args: argparse.Namespace, root: Path, published: Any, trained: bool) -> dict[str, Any]:
    """sweep.json: what the sweep is and the commands that trained its runs (appended, so a
    re-run that only reused finished runs leaves the record as it was)."""
    from ..io import write_json
    from ..report.document import SWEEP_FILE

    text = yaml.safe_load(config_path(args.config).read_text())
    path = root / SWEEP_FILE
    old = json.loads(path.read_text()) if path.is_file() else {}
    command = "attnzoo " + " ".join(shlex.quote(a) for a in args.argv)
    if old.get("command") and (not trained or command in old["command"]):
        command = old["command"]
    elif old.get("command"):
        command = f"{old['command']}, then {command}"
    meta = {"config": args.config, "description": text.get("description"), "published": published}
    variants = (text.get("sweep") or {}).get("variants")
    if variants:
        meta["variants"] = list(variants)  # all of the config's, in order: the report's rows
    meta = {**meta, "command": command}
    if meta != old:
        write_json(path, meta)
    return meta


def _tables(root: Path, meta: dict[str, Any]) -> None:
    """results.md and .csv from every finished run under ``root``, written only if they change."""
    from ..report import csv_text, markdown, published_errors, read_summaries
    from ..report.document import sweep_rows

    rows = sweep_rows(root, read_summaries([root]), meta.get("variants"))
    reference = published_errors(meta["published"]) if meta.get("published") else None
    table = markdown(rows, reference)
    for name, text in (("results.md", table + "\n"), ("results.csv", csv_text(rows, reference))):
        path = root / name
        if not path.is_file() or path.read_text() != text:
            atomic_write_text(path, text)
    print(table)
    say(f"tables of every finished run under {root}: {root / 'results.md'}, results.csv")


def run(args: argparse.Namespace) -> int:
    if args.fresh and args.status:
        raise ValueError("--fresh and --status: --status only reads; give one of them")
    from ..engine.sweep import is_finished

    runs, published, root = _plan(args)
    if args.status:
        return _status(runs)
    if args.fresh:
        _move_aside(root)
    say(f"sweep {args.config}: {len(runs)} runs, executor {args.executor}")
    meta = _record(args, root, published, trained=not all(map(is_finished, runs)))
    outcomes = _execute(args, runs, root)
    reused = sum(o.status == "done" for o in outcomes)
    if reused:
        say(f"reused {reused} finished run(s) from {root} (--fresh trains afresh)")
    if args.executor == "slurm" and args.no_wait:
        say(f"check with: attnzoo sweep {args.config} --status")
        return 0
    if any(o.status != "failed" for o in outcomes):
        _tables(root, meta)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        print(f"{len(failed)} run(s) failed and are not in the table", file=sys.stderr)
        return 1
    return 0
