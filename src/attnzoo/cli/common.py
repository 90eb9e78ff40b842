"""What several commands share: the training flags derived from TrainConfig, and error output."""

from __future__ import annotations

import argparse
import sys
import typing
from typing import Any

from ..attention.spec import key_value, parse_options, parse_setting
from ..engine.config import (
    TrainConfig,
    coerce,
    config_fields,
    field_types,
    type_name,
)
from ..engine.config_files import read_config_file


def _typed(name: str, hint: Any) -> Any:
    """An argparse ``type`` that reads a flag's text as the field's declared type."""

    def convert(text: str) -> Any:
        try:
            return coerce(name, text, hint)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix("config: ")) from None

    convert.__name__ = type_name(hint)  # argparse names it in "invalid ... value"
    return convert


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, its type, choices and help taken from the declaration.

    Flags default to "not given", so that a --config file's values apply unless a flag overrides
    them, and the defaults live in TrainConfig alone.
    """
    parser.add_argument("--config", help="experiment YAML: a named config (attnzoo list) or a path")
    defaults, hints = TrainConfig(), field_types()
    for f in config_fields():
        if not f.metadata.get("flag", True):
            continue
        default = getattr(defaults, f.name) if f.name != "out_dir" else None
        common = {"default": argparse.SUPPRESS, "help": f"{f.metadata['help']} [{default}]"}
        flag, hint = "--" + f.name.replace("_", "-"), hints[f.name]
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
        elif typing.get_origin(hint) is dict:  # repeatable KEY=VALUE
            parser.add_argument(flag, action="append", metavar="KEY=VALUE", **common)
        elif typing.get_origin(hint) is list:
            item = typing.get_args(hint)[0]
            parser.add_argument(flag, type=_typed(f.name, item), nargs="*", **common)
        else:
            choices = f.metadata.get("choices")
            parser.add_argument(flag, type=_typed(f.name, hint), choices=choices, **common)
    add_spec_arguments(parser, "one attention setting: a name, or names joined by '+' (se+ba2m)")
    parser.add_argument(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backbone option, repeatable (e.g. drop_rate=0.3)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_download_argument(parser: argparse.ArgumentParser, default: Any = True) -> None:
    """``--download/--no-download`` as TrainConfig's ``download`` field declares it."""
    help = TrainConfig.__dataclass_fields__["download"].metadata["help"]
    parser.add_argument(
        "--download", action=argparse.BooleanOptionalAction, default=default, help=f"{help} [True]"
    )


def add_spec_arguments(
    parser: argparse.ArgumentParser, help: str, default: Any = argparse.SUPPRESS
) -> None:
    """``--attention`` and ``--option`` in the spec grammar (see attnzoo.attention.spec)."""
    parser.add_argument("--attention", default=default, help=f"{help} [none]")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="[MODULE.]KEY=VALUE",
        help="attention option, repeatable (e.g. tau=0.5, or ba2m.tau=0.5 with several modules)",
    )


def config_values(args: argparse.Namespace) -> dict[str, Any]:
    """TrainConfig values: the --config file's, overridden by the flags given."""
    values = read_config_file(args.config) if getattr(args, "config", None) else {}
    values.pop("sweep", None)
    given, hints = vars(args), field_types()
    for f in config_fields():
        if f.name in given and f.metadata.get("flag", True):
            values[f.name] = given[f.name]
            if typing.get_origin(hints[f.name]) is dict:
                flag = "--" + f.name.replace("_", "-")
                values[f.name] = dict(key_value(item, flag) for item in given[f.name])
    names = parse_setting(given.get("attention", values.get("attention")), "--attention ")
    values["attention"] = names
    for module, options in parse_options(names, args.option).items():
        values.setdefault("attention_options", {}).setdefault(module, {}).update(options)
    for item in args.model_option:
        key, value = key_value(item, "--model-option")
        values.setdefault("model_options", {})[key] = value
    return values


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig.from_dict(config_values(args))


def say(message: str) -> None:
    """Progress and notes go to stderr, so that stdout holds only the command's result."""
    print(message, file=sys.stderr, flush=True)
