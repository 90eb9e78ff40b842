"""The ``attnzoo`` command line: train, sweep, evaluate, compare, measure and list.

Each command is a module of this package with ``add_parser(sub)`` and ``run(args)``; this one
builds the parser from them and turns every expected error into one line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..validation import AttnzooError
from . import (
    batch_eval,
    bench,
    compare,
    complexity,
    eval,
    export,
    inspect,
    plot,
    report,
    submit,
    sweep,
    train,
    tsne,
)
from . import list as list_

COMMANDS = (
    train,
    sweep,
    submit,
    report,
    eval,
    compare,
    plot,
    complexity,
    bench,
    export,
    tsne,
    inspect,
    batch_eval,
    list_,
)
__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attnzoo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(bench.normalize_argv(argv))
    args.argv = argv  # recorded by sweeps, so that their results say how to reproduce them
    try:
        return args.func(args)
    # AttnzooError: a bad setting or input, named in one line. ImportError: an optional extra
    # (plots, analysis, ONNX) is missing; the message says which. Any other ValueError is a bug,
    # and keeps its traceback.
    except (AttnzooError, OSError, FloatingPointError, ImportError) as err:
        print(f"attnzoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"attnzoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
