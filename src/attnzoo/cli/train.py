"""``attnzoo train``: one run, its settings from a config file and flags (see TrainConfig)."""

from __future__ import annotations

import argparse

from .common import add_config_arguments, config_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train a model and write metrics, checkpoint, summary")
    add_config_arguments(parser)
    parser.add_argument(
        "--restart",
        action="store_true",
        help="the run directory holds a run: move it aside to <dir>.old-<time> and start over "
        "(--resume auto continues it instead)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine import train
    from ..engine.distributed import process_rank

    summary = train(config_from_args(args), progress=not args.quiet, restart=args.restart)
    if process_rank() == 0:
        metric = summary["primary_metric"]
        print(
            f"{summary['model']} + {summary['attention']}: final {metric} {summary[metric]:.2f}  "
            f"params {summary['params'] / 1e6:.3f}M  {summary['wall_seconds']:.0f}s -> "
            f"{summary['config']['out_dir']}"
        )
    return 0
