"""``attnzoo batch-eval``: BA2M at test time, identity against the batch softmax, per batch size."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..io import atomic_write_text


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "batch-eval", help="BA2M at test time: identity against the batch softmax, per batch size"
    )
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoints of BA2M networks")
    parser.add_argument(
        "--batch-sizes", default="1,32,256", help="comma-separated test batch sizes"
    )
    parser.add_argument("--data", default=None, help="dataset (default: the run's)")
    parser.add_argument("--per-class", type=int, default=None, help="first K test images per class")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test images' fixed order")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis import batch_softmax_effect
    from ..analysis.batch_eval import markdown

    sizes = [int(b) for b in args.batch_sizes.split(",")]
    rows = []
    for path in args.checkpoints:
        rows += batch_softmax_effect(
            path, sizes, data=args.data, per_class=args.per_class, seed=args.seed
        )
    table = markdown(rows)
    print(table)
    if args.out:
        atomic_write_text(args.out, table + "\n")
    return 0
