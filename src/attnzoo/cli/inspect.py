"""``attnzoo inspect``: what BA2M learns, its weights against the samples' losses, per epoch."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "inspect", help="what BA2M learns: its weights against the samples' losses, per epoch"
    )
    parser.add_argument(
        "run_dir", type=Path, help="run directory (epoch-NNN snapshots: --keep-every)"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the CSV, JSON and PNGs")
    parser.add_argument("--data", default=None, help="dataset (default: the run's)")
    parser.add_argument(
        "--per-class", type=int, default=100, help="first K training images per class"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="N (default: the run's)")
    parser.add_argument("--images", type=int, default=6, help="images in the SAR-map grid")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fixed batches' shuffle")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis import inspect_run

    rows = inspect_run(
        args.run_dir,
        args.out,
        data=args.data,
        per_class=args.per_class,
        batch_size=args.batch_size,
        images=args.images,
        seed=args.seed,
    )
    print(f"{'epoch':>5}  {'module':<20} {'spearman':>8} {'pearson':>8} {'weight std':>10}")
    for r in rows:
        print(
            f"{r['epoch']:>5}  {r['module']:<20} {r['spearman']:+8.3f} {r['pearson']:+8.3f} "
            f"{r['weight_std']:10.4f}"
        )
    print(f"-> {args.out}")
    return 0
