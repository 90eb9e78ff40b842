"""``attnzoo sweep``: a config's grid of models x attention settings x seeds, then its tables."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from ..attention.spec import key_value, parse_settings
from ..engine.config import config_path
from ..io import atomic_write_text
from .common import say


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
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (threads shared)")
    parser.add_argument("--retries", type=int, default=1, help="retries of a crashed run")
    parser.add_argument("--threads", type=int, help="CPU threads per run (default: cores / jobs)")
    parser.add_argument("--root", type=Path, help="results directory (default results/<config>)")
    parser.set_defaults(func=run)


def _report(outcome: Any) -> None:
    extra = f": {outcome.detail}" if outcome.detail else ""
    say(f"  {outcome.status:>8}  {outcome.run.label}{extra}")


def run(args: argparse.Namespace) -> int:
    from ..engine.sweep import run_sweep, sweep_from_file
    from ..io import write_json
    from ..report import csv_text, markdown, published_errors, read_summaries
    from ..report.document import SWEEP_FILE, sweep_rows

    runs, published, root = sweep_from_file(
        args.config,
        root=args.root,
        seeds=args.seeds,
        models=args.models.split(",") if args.models else None,
        attention=parse_settings(args.attention, "--attention ") if args.attention else None,
        overrides=dict(key_value(item, "--set") for item in args.set),
        variants=args.variants.split(",") if args.variants else None,
    )
    say(f"sweep {args.config}: {len(runs)} runs, {args.jobs} at a time")
    text = yaml.safe_load(config_path(args.config).read_text())
    command = "attnzoo " + " ".join(shlex.quote(a) for a in args.argv)
    meta = {"config": args.config, "description": text.get("description"), "published": published}
    variants = (text.get("sweep") or {}).get("variants")
    if variants:
        meta["variants"] = list(variants)  # all of the config's, in order: the report's rows
    write_json(root / SWEEP_FILE, {**meta, "command": command})
    outcomes = run_sweep(
        runs, jobs=args.jobs, retries=args.retries, threads=args.threads, report=_report
    )
    finished = [o.run.out_dir for o in outcomes if o.status != "failed"]
    failed = [o for o in outcomes if o.status == "failed"]
    if finished:
        rows = sweep_rows(root, read_summaries(finished), meta.get("variants"))
        reference = published_errors(published) if published else None
        atomic_write_text(root / "results.md", markdown(rows, reference) + "\n")
        atomic_write_text(root / "results.csv", csv_text(rows, reference))
        print(markdown(rows, reference))
        say(f"tables: {root / 'results.md'}, {root / 'results.csv'}")
    if failed:
        print(f"{len(failed)} run(s) failed and are not in the table", file=sys.stderr)
        return 1
    return 0
