"""``attnzoo complexity``: parameters and multiply-adds of a model, per module, or the papers'."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..attention.spec import parse_options, parse_setting, spec_name
from ..io import atomic_write_text
from ..validation import AttnzooError
from .common import add_spec_arguments


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("complexity", help="params and multiply-adds, per module and in total")
    parser.add_argument("model", nargs="?", default=None)
    add_spec_arguments(parser, "one attention setting (se, se+ba2m)", default="none")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--num-classes", type=int, default=None)
    parser.add_argument(
        "--paper", action="store_true", help="every row of the papers' tables, as Markdown"
    )
    parser.add_argument(
        "--table", action="append", help="with --paper: only this table (repeatable)"
    )
    parser.add_argument("--output", type=Path, help="with --paper: write the Markdown here")
    parser.set_defaults(func=run)


def _paper(args: argparse.Namespace) -> int:
    from ..benchmarks.paper import paper_tables, render_markdown

    def progress(row: Any) -> None:
        print(f"{row.table}: {row.label}", file=sys.stderr, flush=True)

    text = render_markdown(paper_tables(args.table or None, progress))
    if args.output:
        atomic_write_text(args.output, text)
    else:
        print(text)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.paper:
        return _paper(args)
    if args.model is None:
        raise AttnzooError("give a MODEL, or --paper for the papers' tables")
    from .. import create_model
    from ..benchmarks import module_costs

    names = parse_setting(args.attention, "--attention ")
    options = parse_options(names, args.option)
    model = create_model(
        args.model, args.num_classes, attention=[(n, options.get(n, {})) for n in names]
    )
    base = module_costs(create_model(args.model, args.num_classes), args.input_size)[0]
    rows = module_costs(model, args.input_size)
    print(
        f"{args.model} + {spec_name(names)}, {args.input_size}x{args.input_size} input, "
        f"{model.num_classes} classes. MACs are multiply-adds per image; train: counted in "
        "training mode (batch-coupled modules such as BA2M act only there)."
    )
    print(f"{'module':<14} {'params (M)':>11} {'eval MACs (G)':>14} {'train MACs (G)':>15}")
    for row in rows:
        print(
            f"{row.name:<14} {row.params / 1e6:11.4f} {row.eval_macs / 1e9:14.4f} "
            f"{row.train_macs / 1e9:15.4f}"
        )
    total = rows[0]
    print(
        f"{'vs baseline':<14} {(total.params - base.params) / 1e6:+11.4f} "
        f"{(total.eval_macs - base.eval_macs) / 1e9:+14.4f} "
        f"{(total.train_macs - base.train_macs) / 1e9:+15.4f}"
    )
    return 0
