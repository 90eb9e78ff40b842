"""``attnzoo list``: the models, attention modules, datasets and named configs there are; with a
MODULE, that module's options; with ``--models PATTERN``, the backbones that match."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "list", help="list models, attention modules, datasets and configs, or a module's options"
    )
    parser.add_argument("module", nargs="?", help="an attention module: list its options")
    parser.add_argument(
        "--models", metavar="PATTERN", help="only the backbones matching PATTERN (e.g. 'resnet*')"
    )
    parser.set_defaults(func=run)


def _options(name: str) -> None:
    from ..attention.registry import describe_options

    docs = describe_options(name)
    width = max((len(d.name) for d in docs), default=0)
    print(f"{name}: options (type = default: meaning)")
    for d in docs:
        meaning = d.meaning or "see the module's docstring"
        print(f"  {d.name:<{width}}  {d.type} = {d.default}: {meaning}")


def run(args: argparse.Namespace) -> int:
    from .. import list_attention, list_models

    if args.module:
        _options(args.module)
        return 0
    if args.models is not None:
        found = list_models(args.models)
        if not found:
            raise ValueError(f"no model matches {args.models!r}; see `attnzoo list`")
        print("\n".join(found))
        return 0
    from ..data import list_datasets
    from ..engine.config_files import list_configs

    print("models:    " + " ".join(list_models()))
    print("attention: " + " ".join(list_attention()))
    print("datasets:  " + " ".join(list_datasets()))
    print("configs:   " + " ".join(list_configs()))
    return 0
