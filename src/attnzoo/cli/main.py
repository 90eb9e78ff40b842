"""The ``attnzoo`` command line: train, eval, compare, list."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..engine import TrainConfig

HELP = {
    "model": "backbone name (see `attnzoo list`)",
    "data": "built-in dataset name (cifar10, fashion-mnist) or a path in a supported format",
    "train_per_class": "keep only the first K training images of each class",
    "test_per_class": "keep only the first K test images of each class",
    "schedule": "learning-rate schedule: constant, step, multistep or cosine",
    "milestones": "epochs at which multistep multiplies the lr by gamma",
    "step_size": "epochs between lr decays for the step schedule",
    "warmup_epochs": "linear lr warm-up length in epochs (fractions allowed)",
    "padding": "zero padding of the random-crop augmentation (0: no crop)",
    "out_dir": "run directory (default runs/<model>-<attention>-s<seed>)",
}


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, so the defaults live in one place."""
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("attention", "attention_options"):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default_factory() if callable(f.default_factory) else f.default
        kind = {"int | None": int, "float": float, "int": int, "str": str}.get(str(f.type), str)
        if f.name == "milestones":
            parser.add_argument(flag, type=int, nargs="*", default=default, help=HELP[f.name])
        else:
            parser.add_argument(flag, type=kind, default=default, help=HELP.get(f.name))
    parser.add_argument(
        "--attention",
        default="none",
        help="attention module(s): a name, or names joined by commas (e.g. se,ba2m)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="[MODULE.]KEY=VALUE",
        help="attention option, repeatable (e.g. tau=0.5, or ba2m.tau=0.5 with several modules)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def parse_options(attention: list[str], items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Turn ``[MODULE.]KEY=VALUE`` strings into per-module option dicts (values as YAML)."""
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--option {item!r}: expected KEY=VALUE")
        module, dot, key = key.rpartition(".")
        if not dot:
            if len(attention) != 1:
                raise ValueError(
                    f"--option {item!r}: name the module (MODULE.KEY=VALUE) "
                    f"when the attention is {attention or 'none'}"
                )
            module = attention[0]
        options.setdefault(module, {})[key] = yaml.safe_load(value)
    return options


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    attention = [] if args.attention == "none" else args.attention.split(",")
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if hasattr(args, f.name) and f.name != "attention"
    }
    values["attention"] = attention
    values["attention_options"] = parse_options(attention, args.option)
    return TrainConfig(**values)


def cmd_train(args: argparse.Namespace) -> int:
    from ..engine import train

    summary = train(config_from_args(args), progress=not args.quiet)
    print(
        f"{summary['model']} + {summary['attention']}: final top-1 {summary['top1']:.2f}%  "
        f"top-5 {summary['top5']:.2f}%  params {summary['params'] / 1e6:.3f}M  "
        f"{summary['wall_seconds']:.0f}s -> {summary['config']['out_dir']}"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ..engine.evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(
        args.checkpoint,
        data=args.data,
        split=args.split,
        per_class=args.per_class,
        batch_size=args.batch_size,
    )
    print(json.dumps(result, indent=2))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ..engine.report import comparison_table, read_summaries

    print(comparison_table(read_summaries(args.runs)))
    return 0


def cmd_complexity(args: argparse.Namespace) -> int:
    from ..io import atomic_write

    if args.paper:
        from ..benchmarks.paper import paper_tables, render_markdown

        def progress(row: Any) -> None:
            print(f"{row.table}: {row.label}", file=sys.stderr, flush=True)

        text = render_markdown(paper_tables(args.table or None, progress))
        if args.output:
            atomic_write(args.output, lambda f: f.write(text.encode()))
        else:
            print(text)
        return 0
    if args.model is None:
        raise ValueError("give a MODEL, or --paper for the papers' tables")
    from .. import create_model
    from ..benchmarks import module_costs

    attention = [] if args.attention == "none" else args.attention.split(",")
    options = parse_options(attention, args.option)
    spec = [(name, options.get(name, {})) for name in attention]
    model = create_model(args.model, args.num_classes, attention=spec)
    base = module_costs(create_model(args.model, args.num_classes), args.input_size)[0]
    rows = module_costs(model, args.input_size)
    print(
        f"{args.model} + {args.attention}, {args.input_size}x{args.input_size} input, "
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


def cmd_bench(args: argparse.Namespace) -> int:
    import csv
    import dataclasses as dc

    from ..benchmarks.bench import BenchConfig, machine, markdown, run_bench
    from ..io import atomic_write, write_json

    variants = [() if a == "none" else tuple(a.split("+")) for a in args.attention.split(",")]
    if () not in variants:
        variants.insert(0, ())  # every ratio needs the baseline measured in the same run
    variants.sort(key=lambda v: v != ())
    results = []
    for model in args.models.split(","):
        configs = [
            BenchConfig(
                model, v, args.input_size, args.batch_size, args.num_classes, args.device,
                args.channels_last, args.amp,
            )
            for v in variants
        ]  # fmt: skip

        def say(message: str, model: str = model) -> None:
            print(f"{model}: {message}", file=sys.stderr, flush=True)

        results += run_bench(
            configs, warmup=args.warmup, repeats=args.repeats, memory=not args.no_memory,
            progress=say,
        )  # fmt: skip
    table = markdown(results)
    print(table)
    if args.out:
        rows = [dc.asdict(r) for r in results]
        settings = {k: v for k, v in vars(args).items() if k not in ("func", "out")}
        write_json(args.out / "bench.json", {"machine": machine(), "args": settings, "rows": rows})

        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(args.out / "bench.csv", lambda f: f.write(text.getvalue().encode()))
        atomic_write(args.out / "bench.md", lambda f: f.write((table + "\n").encode()))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from .. import list_attention, list_models
    from ..data import list_datasets

    print("models:    " + " ".join(list_models()))
    print("attention: " + " ".join(list_attention()))
    print("datasets:  " + " ".join(list_datasets()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attnzoo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model and write metrics, checkpoint, summary")
    _add_config_arguments(train)
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="evaluate a checkpoint on a dataset split")
    ev.add_argument("--checkpoint", required=True, type=Path)
    ev.add_argument("--data", default=None, help="dataset (default: the one it was trained on)")
    ev.add_argument("--split", default="test", choices=("train", "test"))
    ev.add_argument("--per-class", type=int, default=None, help="first K images of each class")
    ev.add_argument("--batch-size", type=int, default=500)
    ev.set_defaults(func=cmd_eval)

    cmp = sub.add_parser("compare", help="table of final accuracies over run directories")
    cmp.add_argument("runs", nargs="+", type=Path, help="run directories holding summary.json")
    cmp.set_defaults(func=cmd_compare)

    cx = sub.add_parser("complexity", help="params and multiply-adds, per module and in total")
    cx.add_argument("model", nargs="?", default=None)
    cx.add_argument("--attention", default="none")
    cx.add_argument("--option", action="append", default=[], metavar="[MODULE.]KEY=VALUE")
    cx.add_argument("--input-size", type=int, default=224)
    cx.add_argument("--num-classes", type=int, default=None)
    cx.add_argument(
        "--paper", action="store_true", help="every row of the papers' tables, as Markdown"
    )
    cx.add_argument("--table", action="append", help="with --paper: only this table (repeatable)")
    cx.add_argument("--output", type=Path, help="with --paper: write the Markdown here")
    cx.set_defaults(func=cmd_complexity)

    bn = sub.add_parser("bench", help="training and inference speed and memory, as ratios")
    bn.add_argument("--models", default="resnet50_cifar", help="comma-separated backbones")
    bn.add_argument(
        "--attention", default="none,se,cbam,bam,spem,ba2m",
        help="comma-separated variants; a+b combines modules; the baseline is always measured",
    )  # fmt: skip
    bn.add_argument("--input-size", type=int, default=32)
    bn.add_argument("--batch-size", type=int, default=64)
    bn.add_argument("--num-classes", type=int, default=None)
    bn.add_argument("--warmup", type=int, default=2, help="untimed rounds")
    bn.add_argument("--repeats", type=int, default=5, help="timed rounds (median reported)")
    bn.add_argument("--device", default="cpu")
    bn.add_argument("--channels-last", action="store_true")
    bn.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    bn.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    bn.add_argument("--out", type=Path, help="directory for bench.json, bench.csv and bench.md")
    bn.set_defaults(func=cmd_bench)

    ls = sub.add_parser("list", help="list models, attention modules and datasets")
    ls.set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as err:
        print(f"attnzoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"attnzoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
