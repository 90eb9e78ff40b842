"""``attnzoo plot``: training curves and a bar chart of final errors."""

from __future__ import annotations

import argparse
from pathlib import Path

from .compare import RUNS_HELP, SPLIT_HELP


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("plot", help="training curves and a bar chart of final errors")
    parser.add_argument("runs", nargs="+", type=Path, help=RUNS_HELP)
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for curves.png, comparison.png"
    )
    parser.add_argument("--split", action="store_true", help=SPLIT_HELP)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report import aggregate, plot_comparison, plot_curves, read_summaries

    rows = aggregate(read_summaries(args.runs), split=args.split)  # every error before any file
    print(plot_curves(args.runs, args.out / "curves.png"))
    print(plot_comparison(rows, args.out / "comparison.png"))
    return 0
