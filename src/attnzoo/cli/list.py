"""``attnzoo list``: the models, attention modules and datasets there are."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("list", help="list models, attention modules and datasets")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import list_attention, list_models
    from ..data import list_datasets

    print("models:    " + " ".join(list_models()))
    print("attention: " + " ".join(list_attention()))
    print("datasets:  " + " ".join(list_datasets()))
    return 0
