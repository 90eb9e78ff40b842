"""``attnzoo sweep``: a config's grid of models x attention settings x seeds, then its tables.

The sweep itself is :func:`attnzoo.engine.sweep.execute_sweep`; this command reads its flags,
calls it and prints. Nothing already written is lost: finished runs are reused (and said so),
``--fresh`` moves the sweep's directory aside rather than deleting it, and the tables are rebuilt
from every finished run under the sweep's root, so a re-run of part of the grid never shrinks them.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ..attention.spec import key_value, parse_settings
from ..validation import AttnzooError
from .cluster import add_slurm_arguments, slurm_options
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
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training setting for every run (e.g. epochs=10)",
    )
    add_download_argument(parser, default=argparse.SUPPRESS)
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="train runs under results/ from code with uncommitted changes (each saves their diff)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (threads shared)")
    parser.add_argument("--retries", type=int, default=1, help="retries of a crashed run")
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads per run (default: cores / jobs, <= OMP_NUM_THREADS)",
    )
    parser.add_argument("--root", type=Path, help="results directory (default results/<config>)")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="train every run afresh: the root is first moved aside to <root>.old-<time>",
    )
    parser.add_argument(
        "--executor",
        choices=("local", "slurm"),
        default="local",
        help="where runs train: this machine, or Slurm job arrays through submitit [local]",
    )
    parser.add_argument(
        "--gpus-per-run",
        type=int,
        help="GPUs of each run (local: its own CUDA_VISIBLE_DEVICES; default 1 with GPUs)",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="slurm: submit and return; rerun the sweep later for its tables",
    )
    parser.add_argument(
        "--status",
        action="store_true",
        help="show each run as missing, pending, running, done or failed; submits nothing",
    )
    add_slurm_arguments(parser)
    parser.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--set`` values, with ``--[no-]download`` as ``download`` and ``--allow-dirty`` as
    ``allow_dirty``."""
    overrides = dict(key_value(item, "--set") for item in args.set)
    if "download" in vars(args):
        overrides["download"] = args.download
    if args.allow_dirty:
        overrides["allow_dirty"] = True
    return overrides


def _execution(args: argparse.Namespace) -> Any:
    from ..engine.sweep import Execution

    slurm = None
    if args.executor == "slurm":
        slurm = slurm_options(args, args.config, gpus_per_run=args.gpus_per_run)
    return Execution(
        args.executor,
        retries=args.retries,
        jobs=args.jobs,
        threads=args.threads,
        gpus_per_run=args.gpus_per_run,
        slurm=slurm,
        wait=not args.no_wait,
    )


def _report(outcome: Any) -> None:
    extra = f": {outcome.detail}" if outcome.detail else ""
    say(f"  {outcome.status:>8}  {outcome.run.label}{extra}")


def _status(runs: list) -> int:
    """Each run's state, Slurm job id and last error line (or pending reason)."""
    from ..engine.sweep import sweep_status

    statuses = sweep_status(runs)
    for item, status in zip(runs, statuses, strict=True):
        detail = f": {status.detail}" if status.detail else ""
        print(f"{status.state:>8}  {status.job_id or '-':>10}  {item.label}{detail}")
    counts = Counter(s.state for s in statuses)
    say(", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.fresh and args.status:
        raise AttnzooError("--fresh and --status: --status only reads; give one of them")
    from ..engine.sweep import execute_sweep, sweep_from_file
    from ..report.document import write_tables

    sweep = sweep_from_file(
        args.config,
        root=args.root,
        seeds=args.seeds,
        models=args.models.split(",") if args.models else None,
        attention=parse_settings(args.attention, "--attention ") if args.attention else None,
        overrides=_overrides(args),
        variants=args.variants.split(",") if args.variants else None,
    )
    if args.status:
        return _status(sweep.runs)
    say(f"sweep {args.config}: {len(sweep.runs)} runs, executor {args.executor}")
    result = execute_sweep(
        sweep,
        _execution(args),
        fresh=args.fresh,
        command="attnzoo " + " ".join(shlex.quote(a) for a in args.argv),
        report=_report,
        note=say,
        tables=write_tables,
    )
    if result.reused:
        say(f"reused {result.reused} finished run(s) from {sweep.root} (--fresh trains afresh)")
    if args.executor == "slurm" and args.no_wait:
        say(f"check with: attnzoo sweep {args.config} --status")
    if result.table is not None:
        print(result.table)
        say(f"tables of every finished run under {sweep.root}: {sweep.root / 'results.md'}, .csv")
    if result.failed:
        print(f"{len(result.failed)} run(s) failed and are not in the table", file=sys.stderr)
        return 1
    return 0
