"""``attnzoo report``: the results document (docs/results.md) from sweep directories."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..io import atomic_write_text


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="docs/results.md from sweep directories")
    parser.add_argument("roots", nargs="+", type=Path, help="sweep directories (results/<config>)")
    parser.add_argument("--out", type=Path, help="write the Markdown here (default: print it)")
    parser.add_argument(
        "--claims",
        type=Path,
        metavar="YAML",
        help="instead: each claim's comparisons and verdicts (docs/claims.yaml)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report import results_document
    from ..report.verdicts import claims_document

    text = claims_document(args.claims, args.roots) if args.claims else results_document(args.roots)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0
