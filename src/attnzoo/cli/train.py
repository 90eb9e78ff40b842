"""``attnzoo train``: one run, its settings from a config file and flags (see TrainConfig)."""

from __future__ import annotations

import argparse

from .common import add_config_arguments, config_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train a model and write metrics, checkpoint, summary")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine import train
    from ..engine.distributed import process_rank
    from ..engine.run import summary_line

    summary = train(config_from_args(args), progress=not args.quiet)
    if process_rank() == 0:
        print(summary_line(summary))
    return 0
