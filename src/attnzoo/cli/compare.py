"""``attnzoo compare``: final results over seeds, per setting, against a paper's if asked."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..io import atomic_write_text

RUNS_HELP = "run directories holding summary.json, or folders of them (a sweep's root)"
SPLIT_HELP = "one row per setting where runs of a model and attention differ in their config"


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("compare", help="table of final errors over seeds, per setting")
    parser.add_argument("runs", nargs="+", type=Path, help=RUNS_HELP)
    parser.add_argument("--csv", type=Path, help="also write the table, every statistic, as CSV")
    parser.add_argument(
        "--published", metavar="TABLE", help="add a paper's figures, e.g. ba2m-table11"
    )
    parser.add_argument("--split", action="store_true", help=SPLIT_HELP)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report import aggregate, csv_text, markdown, published_table, read_summaries

    published = published_table(args.published) if args.published else None
    rows = aggregate(read_summaries(args.runs), split=args.split)
    print(markdown(rows, published))
    if args.csv:
        atomic_write_text(args.csv, csv_text(rows, published))
    return 0
