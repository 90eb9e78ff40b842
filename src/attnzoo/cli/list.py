"""``attnzoo list``: the models, attention modules, datasets and named configs there are; with a
MODULE, that module's options; with ``--models PATTERN``, the backbones that match; with
``--pretrained [PATTERN]``, the published weights (torchvision's, and timm's where it is
installed) and the ``create_model`` call each loads whole into, or why none."""

from __future__ import annotations

import argparse

from ..validation import AttnzooError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "list", help="list models, attention modules, datasets and configs, or a module's options"
    )
    parser.add_argument("module", nargs="?", help="an attention module: list its options")
    parser.add_argument(
        "--models", metavar="PATTERN", help="only the backbones matching PATTERN (e.g. 'resnet*')"
    )
    parser.add_argument(
        "--pretrained",
        metavar="PATTERN",
        nargs="?",
        const="*",
        help="the published weights (matching PATTERN, e.g. 'timm:*resnet50*') and how they load",
    )
    parser.set_defaults(func=run)


def _pretrained(pattern: str) -> None:
    import fnmatch

    from ..models.catalog import Recipe, published_sources, recipe

    sources = [s for s in published_sources() if fnmatch.fnmatchcase(s, pattern)]
    if not sources:
        raise AttnzooError(
            f"no published weights match {pattern!r}; see `attnzoo list --pretrained`"
        )
    print(
        "whole: the call builds the source's network, and its weights load with equal logits; "
        "with another attention=, the same call loads it as a backbone (attention and a head of "
        "another size fresh)"
    )
    width = max(len(s) for s in sources)
    for source in sources:
        how = recipe(source)
        status = f"whole  {how.call(source)}" if isinstance(how, Recipe) else f"no     {how}"
        print(f"{source:<{width}}  {status}")


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
    if args.pretrained is not None:
        _pretrained(args.pretrained)
        return 0
    if args.models is not None:
        found = list_models(args.models)
        if not found:
            raise AttnzooError(f"no model matches {args.models!r}; see `attnzoo list`")
        print("\n".join(found))
        return 0
    from ..data import list_datasets
    from ..engine.config_files import list_configs

    print("models:    " + " ".join(list_models()))
    print("attention: " + " ".join(list_attention()))
    print("datasets:  " + " ".join(list_datasets()))
    print("configs:   " + " ".join(list_configs()))
    return 0
