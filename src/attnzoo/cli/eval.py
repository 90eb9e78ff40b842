"""``attnzoo eval``: a checkpoint's accuracy on a dataset split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..attention.spec import parse_options
from ..validation import AttnzooError
from .common import add_download_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="evaluate a checkpoint on a dataset split")
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--data", default=None, help="dataset (default: the one it was trained on)")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--per-class", type=int, default=None, help="first K images of each class")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="[MODULE.]KEY=VALUE",
        help="override an attention option at test time (e.g. ba2m.eval_mode=batch)",
    )
    parser.add_argument(
        "--recalibrate-bn",
        action="store_true",
        help="first re-estimate the BatchNorm statistics on the run's training images, with the "
        "attention as at test time (e.g. BA2M off)",
    )
    add_download_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine import load_checkpoint
    from ..engine.evaluate import evaluate_checkpoint

    state = load_checkpoint(args.checkpoint)
    options = parse_options(state["config"]["attention"], args.option)
    if args.recalibrate_bn:
        from ..analysis.bn_recalibrate import evaluate_recalibrated

        if args.split != "test":
            raise AttnzooError("--recalibrate-bn evaluates the test split")
        result = evaluate_recalibrated(
            args.checkpoint,
            options,
            data=args.data,
            per_class=args.per_class,
            batch_size=args.batch_size,
            download=args.download,
        )
    else:
        result = evaluate_checkpoint(
            args.checkpoint,
            data=args.data,
            split=args.split,
            per_class=args.per_class,
            batch_size=args.batch_size,
            attention_options=options,
            state=state,
            download=args.download,
        )
    print(json.dumps(result, indent=2))
    return 0
