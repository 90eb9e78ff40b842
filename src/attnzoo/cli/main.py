"""The ``attnzoo`` command line: train, eval, compare, list."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..engine import TrainConfig
from ..engine.config import AMP, AUGMENTS, SCHEDULES, config_path, read_config_file
from ..engine.losses import LOSSES
from .cluster import add_slurm_arguments

HELP = {
    "model": "backbone name (see `attnzoo list`)",
    "data": "built-in dataset name (cifar10, fashion-mnist) or a path in a supported format",
    "train_per_class": "keep only the first K training images of each class",
    "test_per_class": "keep only the first K test images of each class",
    "batch_size": "images per step and per process",
    "milestones": "epochs at which multistep multiplies the lr by gamma",
    "step_size": "epochs between lr decays for the step schedule",
    "warmup_epochs": "linear lr warm-up length in epochs (fractions allowed)",
    "loss": "ce, or a loss re-weighting baseline: focal, ohem (hardest share of each batch)",
    "norm_bias_decay": "weight decay on normalisation weights and biases (--no-... to skip)",
    "augment": "cifar: in-memory batched pad-crop-flip; imagenet: streamed RandomResizedCrop",
    "padding": "zero padding of the CIFAR random crop (0: no crop)",
    "image_size": "crop size of the imagenet augmentation",
    "workers": "image-decoding processes of the imagenet augmentation",
    "amp": "mixed precision: bf16 (CPU/GPU) or fp16 with a gradient scaler (GPU)",
    "compile": "torch.compile the model",
    "sync_bn": "BatchNorm statistics over all processes (torchrun)",
    "resume": "'auto': continue from the run directory's checkpoint; or a checkpoint path",
    "keep_every": "keep every N-th epoch's checkpoint as epoch-NNN.safetensors (for analysis)",
    "save_every": "also checkpoint every N steps within an epoch (0: at epoch ends)",
    "out_dir": "run directory (default runs/<model>-<attention>-s<seed>)",
}
CHOICES = {"schedule": SCHEDULES, "augment": AUGMENTS, "amp": AMP, "loss": LOSSES}
SCALARS = {"int | None": int, "float": float, "int": int, "str": str}
# Fields set through --attention, --option and --model-option rather than a flag of their own.
COMPOSITE = ("attention", "attention_options", "model_options")


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field. Flags default to "not given", so that a --config file's
    values apply unless a flag overrides them, and the defaults live in TrainConfig alone."""
    parser.add_argument("--config", help="experiment YAML: a named config (attnzoo list) or a path")
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        if f.name in COMPOSITE:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name) if f.name != "out_dir" else None
        common = {"default": argparse.SUPPRESS, "help": f"{HELP.get(f.name, '')} [{default}]"}
        if f.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
        elif f.type.startswith("list["):
            parser.add_argument(flag, type=int, nargs="*", **common)
        else:
            parser.add_argument(
                flag, type=SCALARS[str(f.type)], choices=CHOICES.get(f.name), **common
            )
    parser.add_argument(
        "--attention",
        default=argparse.SUPPRESS,
        help="attention module(s): a name, or names joined by commas (e.g. se,ba2m) [none]",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="[MODULE.]KEY=VALUE",
        help="attention option, repeatable (e.g. tau=0.5, or ba2m.tau=0.5 with several modules)",
    )
    parser.add_argument(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backbone option, repeatable (e.g. drop_rate=0.3)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def parse_attention(value: str | list[str] | None) -> list[str]:
    """``"none"``, ``"se,ba2m"``, ``"se+ba2m"`` or a YAML list, as a list of module names."""
    if value is None or value == "none":
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [name for name in value.replace("+", ",").split(",") if name]


def _key_value(item: str, flag: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"{flag} {item!r}: expected KEY=VALUE")
    return key, yaml.safe_load(value)


def parse_options(attention: list[str], items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Turn ``[MODULE.]KEY=VALUE`` strings into per-module option dicts (values as YAML)."""
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        key, value = _key_value(item, "--option")
        module, dot, key = key.rpartition(".")
        if not dot:
            if len(attention) != 1:
                raise ValueError(
                    f"--option {item!r}: name the module (MODULE.KEY=VALUE) "
                    f"when the attention is {attention or 'none'}"
                )
            module = attention[0]
        options.setdefault(module, {})[key] = value
    return options


def config_values(args: argparse.Namespace) -> dict[str, Any]:
    """TrainConfig values: the --config file's, overridden by the flags given."""
    values = read_config_file(args.config) if getattr(args, "config", None) else {}
    values.pop("sweep", None)
    given = vars(args)
    for f in dataclasses.fields(TrainConfig):
        if f.name in given and f.name not in COMPOSITE:
            values[f.name] = given[f.name]
    values["attention"] = parse_attention(given.get("attention", values.get("attention")))
    for module, options in parse_options(values["attention"], args.option).items():
        values.setdefault("attention_options", {}).setdefault(module, {}).update(options)
    for item in args.model_option:
        key, value = _key_value(item, "--model-option")
        values.setdefault("model_options", {})[key] = value
    return values


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig.from_dict(config_values(args))


def cmd_train(args: argparse.Namespace) -> int:
    from ..engine import train

    summary = train(config_from_args(args), progress=not args.quiet)
    if summary["world_size"] == 1 or int(os.environ.get("RANK", "0")) == 0:
        print(
            f"{summary['model']} + {summary['attention']}: final top-1 {summary['top1']:.2f}%  "
            f"top-5 {summary['top5']:.2f}%  params {summary['params'] / 1e6:.3f}M  "
            f"{summary['wall_seconds']:.0f}s -> {summary['config']['out_dir']}"
        )
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..engine.sweep import parse_names, sweep_from_file
    from ..io import write_json
    from ..report import csv_text, markdown, published_errors, read_summaries
    from ..report.document import SWEEP_FILE, sweep_rows

    overrides = dict(_key_value(item, "--set") for item in args.set)
    runs, published, root = sweep_from_file(
        args.config,
        root=args.root,
        seeds=args.seeds,
        models=args.models.split(",") if args.models else None,
        attention=[parse_names(a) for a in args.attention.split(",")] if args.attention else None,
        overrides=overrides,
        variants=args.variants.split(",") if args.variants else None,
    )
    if args.status:
        return _sweep_status(runs)
    print(f"sweep {args.config}: {len(runs)} runs, executor {args.executor}", file=sys.stderr)

    def say(outcome: Any) -> None:
        extra = f": {outcome.detail}" if outcome.detail else ""
        print(f"  {outcome.status:>8}  {outcome.run.label}{extra}", file=sys.stderr, flush=True)

    text = yaml.safe_load(config_path(args.config).read_text())
    command = "attnzoo " + " ".join(shlex.quote(a) for a in args.argv)
    meta = {"config": args.config, "description": text.get("description"), "published": published}
    variants = (text.get("sweep") or {}).get("variants")
    if variants:
        meta["variants"] = list(variants)  # all of the config's, in order: the report's rows
    write_json(root / SWEEP_FILE, {**meta, "command": command})
    outcomes = _run(args, runs, root, say)
    if args.executor == "slurm" and args.no_wait:
        print(f"check with: attnzoo sweep {args.config} --status", file=sys.stderr)
        return 0
    finished = [o.run.out_dir for o in outcomes if o.status != "failed"]
    failed = [o for o in outcomes if o.status == "failed"]
    if finished:
        rows = sweep_rows(root, read_summaries(finished), meta.get("variants"))
        reference = published_errors(published) if published else None
        atomic_write_text(root / "results.md", markdown(rows, reference) + "\n")
        atomic_write_text(root / "results.csv", csv_text(rows, reference))
        print(markdown(rows, reference))
        print(f"tables: {root / 'results.md'}, {root / 'results.csv'}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} run(s) failed and are not in the table", file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace, runs: list, root: Path, say: Any) -> list:
    """The sweep's runs on this machine, or on Slurm (``--executor slurm``)."""
    from ..engine.sweep import run_sweep

    if args.executor == "local":
        return run_sweep(
            runs, jobs=args.jobs, retries=args.retries, threads=args.threads,
            gpus_per_run=args.gpus_per_run, report=say,
        )  # fmt: skip
    from ..engine.slurm import run_sweep_slurm
    from .cluster import slurm_options

    options = slurm_options(args, args.config, gpus_per_run=args.gpus_per_run)
    return run_sweep_slurm(
        runs, root / ".slurm", options, retries=args.retries, block=not args.no_wait, report=say
    )


def _sweep_status(runs: list) -> int:
    """Each run's state, Slurm job id and last error line; submits nothing."""
    from collections import Counter

    from ..engine.slurm import sweep_status

    statuses = sweep_status(runs)
    for run, status in zip(runs, statuses, strict=True):
        detail = f": {status.detail}" if status.detail else ""
        print(f"{status.state:>8}  {status.job_id or '-':>10}  {run.label}{detail}")
    counts = Counter(s.state for s in statuses)
    print(", ".join(f"{n} {state}" for state, n in sorted(counts.items())), file=sys.stderr)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from ..engine.slurm import submit_training
    from .cluster import slurm_options

    config = config_from_args(args)
    config.validate()  # before anything is queued
    options = slurm_options(
        args, args.config, nodes=args.nodes, gpus_per_run=args.gpus_per_node,
        tasks_per_node=max(1, args.gpus_per_node),
    )  # fmt: skip
    job_id = submit_training(config, options)
    tasks = f"{args.nodes} node(s) x {options.tasks_per_node} task(s)"
    print(f"submitted job {job_id}: {tasks}, log {config.out_dir}/slurm.log", file=sys.stderr)
    print(job_id)
    return 0


def atomic_write_text(path: Path, text: str) -> None:
    from ..io import atomic_write

    atomic_write(path, lambda f: f.write(text.encode()))


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import results_document

    text = results_document(args.roots)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ..engine import load_checkpoint
    from ..engine.evaluate import evaluate_checkpoint

    state = load_checkpoint(args.checkpoint)
    result = evaluate_checkpoint(
        args.checkpoint,
        data=args.data,
        split=args.split,
        per_class=args.per_class,
        batch_size=args.batch_size,
        attention_options=parse_options(state["config"]["attention"], args.option),
        state=state,
    )
    print(json.dumps(result, indent=2))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ..io import atomic_write
    from ..report import aggregate, csv_text, markdown, published_errors, read_summaries

    published = published_errors(args.published) if args.published else None
    rows = aggregate(read_summaries(args.runs), split=args.split)
    print(markdown(rows, published))
    if args.csv:
        text = csv_text(rows, published)
        atomic_write(args.csv, lambda f: f.write(text.encode()))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from ..report import aggregate, plot_comparison, plot_curves, read_summaries

    rows = aggregate(read_summaries(args.runs), split=args.split)  # every error before any file
    print(plot_curves(args.runs, args.out / "curves.png"))
    print(plot_comparison(rows, args.out / "comparison.png"))
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
    import time

    from ..io import atomic_write, write_json
    from ..machine import describe as machine

    mode = "gsa" if args.gsa else "trainer_overhead" if args.trainer_overhead else "modules"
    defaults = {
        "modules": {"models": "resnet50_cifar", "input_size": 32, "batch_size": 64},
        "gsa": {"input_size": 56, "batch_size": 32},
        "trainer_overhead": {"models": "resnet20", "batch_size": 128},
    }[mode]
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    clock = time.process_time if args.cpu_time else time.perf_counter
    if mode == "gsa":
        from ..benchmarks.gsa import markdown, run_gsa_bench

        results = run_gsa_bench(
            args.channels, args.input_size, args.batch_size, device=args.device,
            warmup=args.warmup, repeats=args.repeats, memory=not args.no_memory, clock=clock,
            progress=say,
        )  # fmt: skip
    elif mode == "trainer_overhead":
        from ..benchmarks.trainer_overhead import markdown, run_overhead

        results = [
            run_overhead(
                model, data=args.data, batch_size=args.batch_size,
                train_per_class=args.train_per_class, test_per_class=args.test_per_class,
                warmup=args.warmup, repeats=args.repeats,
                progress=lambda message, model=model: say(f"{model}: {message}"),
            )
            for model in args.models.split(",")
        ]  # fmt: skip
    else:
        from ..benchmarks import bench, profile
        from ..benchmarks.bench import BenchConfig

        markdown = profile.markdown if args.profile else bench.markdown
        variants = [() if a == "none" else tuple(a.split("+")) for a in args.attention.split(",")]
        if () not in variants:
            variants.insert(0, ())  # every ratio needs the baseline measured in the same run
        variants.sort(key=lambda v: v != ())
        results = []
        for model in args.models.split(","):
            configs = [
                BenchConfig(
                    model, v, args.input_size, args.batch_size, args.num_classes, args.device,
                    args.channels_last, args.amp, args.compile,
                )
                for v in variants
            ]  # fmt: skip

            def progress(message: str, model: str = model) -> None:
                say(f"{model}: {message}")

            if args.profile:
                results += profile.run_profile(
                    configs, warmup=args.warmup, repeats=args.repeats, progress=progress
                )
            else:
                results += bench.run_bench(
                    configs, warmup=args.warmup, repeats=args.repeats,
                    memory=not args.no_memory, clock=clock, progress=progress,
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


def cmd_export(args: argparse.Namespace) -> int:
    import torch

    from ..engine import load_checkpoint
    from ..engine.evaluate import model_from_checkpoint
    from ..export import SUFFIXES, export, tolerance, verify

    for flag, value in (("--input-size", args.input_size), ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be at least 1, got {value}")
    output = args.output or args.checkpoint.with_suffix(SUFFIXES[args.format])
    if output.is_dir():
        raise ValueError(f"--output {output} is a directory; give a file name")
    state = load_checkpoint(args.checkpoint)
    model = model_from_checkpoint(state, args.checkpoint)
    info = state["data"]
    size = args.input_size or info.get("image_size", 32)  # older runs store no size
    shape = (info["in_chans"], size, size)
    path = export(model, output, shape, args.format)
    if args.no_verify:
        print(path)
        return 0
    images = torch.randn(args.batch_size, *shape, generator=torch.Generator().manual_seed(0))
    diff = verify(model, path, images, args.format)
    print(f"{path}  max abs diff {diff:.2e} from PyTorch on {args.batch_size} random images")
    if diff > (limit := tolerance(model, images)):
        raise ValueError(f"{path} differs from the PyTorch model by {diff:.2e} > {limit:.2e}")
    return 0


def cmd_tsne(args: argparse.Namespace) -> int:
    from ..analysis import plot_tsne

    results = plot_tsne(
        args.checkpoints, args.out, data=args.data, split=args.split,
        per_class=args.per_class, perplexity=args.perplexity, seed=args.seed,
    )  # fmt: skip
    for r in results:
        print(
            f"{r['label']}, epoch {r['epoch']}: silhouette {r['silhouette']:.3f}  "
            f"{r['k']}-NN accuracy {r['knn_accuracy']:.1f}%  "
            f"({r['images']} {r['split']} images, {r['checkpoint']})"
        )
    print(f"-> {args.out}, {args.out.with_suffix('.json')}")
    return 0


def cmd_batch_eval(args: argparse.Namespace) -> int:
    from ..analysis import batch_softmax_effect
    from ..analysis.batch_eval import markdown

    sizes = [int(b) for b in args.batch_sizes.split(",")]
    rows = []
    for path in args.checkpoints:
        rows += batch_softmax_effect(
            path, sizes, data=args.data, per_class=args.per_class, seed=args.seed
        )
    table = markdown(rows)
    print(table)
    if args.out:
        atomic_write_text(args.out, table + "\n")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from ..analysis import inspect_run

    rows = inspect_run(
        args.run_dir, args.out, data=args.data, per_class=args.per_class,
        batch_size=args.batch_size, images=args.images, seed=args.seed,
    )  # fmt: skip
    print(f"{'epoch':>5}  {'module':<20} {'spearman':>8} {'pearson':>8} {'weight std':>10}")
    for r in rows:
        print(
            f"{r['epoch']:>5}  {r['module']:<20} {r['spearman']:+8.3f} {r['pearson']:+8.3f} "
            f"{r['weight_std']:10.4f}"
        )
    print(f"-> {args.out}")
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

    sw = sub.add_parser("sweep", help="run a config's grid of models x attention x seeds")
    sw.add_argument("config", help="experiment YAML with a sweep section: a named config or a path")
    sw.add_argument("--seeds", type=int, help="seeds 0..N-1 (default: the config's)")
    sw.add_argument("--models", help="comma-separated backbones (default: the config's)")
    sw.add_argument("--attention", help="comma-separated settings, a+b combines modules")
    sw.add_argument("--variants", help="comma-separated: only these of the config's variants")
    sw.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a training setting for every run (e.g. epochs=10)")  # fmt: skip
    sw.add_argument("--jobs", type=int, default=1, help="runs in parallel (threads shared)")
    sw.add_argument("--retries", type=int, default=1, help="retries of a crashed run")
    sw.add_argument("--threads", type=int, help="CPU threads per run (default: cores / jobs)")
    sw.add_argument("--root", type=Path, help="results directory (default results/<config>)")
    sw.add_argument("--executor", choices=("local", "slurm"), default="local",
                    help="where runs train: this machine, or Slurm job arrays (submitit)")
    sw.add_argument("--gpus-per-run", type=int,
                    help="GPUs of each run (local: its own CUDA_VISIBLE_DEVICES; default 1 "
                    "when there are GPUs)")
    sw.add_argument("--no-wait", action="store_true",
                    help="slurm: submit and return; rerun the sweep later for its tables")
    sw.add_argument("--status", action="store_true",
                    help="show each run as missing, pending, running, done or failed; "
                    "submits nothing")  # fmt: skip
    add_slurm_arguments(sw)
    sw.set_defaults(func=cmd_sweep)

    sb = sub.add_parser("submit", help="submit one (distributed) training run to Slurm")
    _add_config_arguments(sb)
    sb.add_argument("--nodes", type=int, default=1, help="nodes of the job [1]")
    sb.add_argument("--gpus-per-node", type=int, default=0,
                    help="GPUs of each node, one process each (0: one CPU process) [0]")
    add_slurm_arguments(sb)
    sb.set_defaults(func=cmd_submit)

    rp = sub.add_parser("report", help="docs/results.md from sweep directories")
    rp.add_argument("roots", nargs="+", type=Path, help="sweep directories (results/<config>)")
    rp.add_argument("--out", type=Path, help="write the Markdown here (default: print it)")
    rp.set_defaults(func=cmd_report)

    ev = sub.add_parser("eval", help="evaluate a checkpoint on a dataset split")
    ev.add_argument("--checkpoint", required=True, type=Path)
    ev.add_argument("--data", default=None, help="dataset (default: the one it was trained on)")
    ev.add_argument("--split", default="test", choices=("train", "test"))
    ev.add_argument("--per-class", type=int, default=None, help="first K images of each class")
    ev.add_argument("--batch-size", type=int, default=500)
    ev.add_argument(
        "--option", action="append", default=[], metavar="[MODULE.]KEY=VALUE",
        help="override an attention option at test time (e.g. ba2m.eval_mode=batch)",
    )  # fmt: skip
    ev.set_defaults(func=cmd_eval)

    runs_help = "run directories holding summary.json, or folders of them (a sweep's root)"
    split_help = "one row per setting where runs of a model and attention differ in their config"
    cmp = sub.add_parser("compare", help="table of final errors over seeds, per setting")
    cmp.add_argument("runs", nargs="+", type=Path, help=runs_help)
    cmp.add_argument("--csv", type=Path, help="also write the table, every statistic, as CSV")
    cmp.add_argument("--published", metavar="TABLE", help="add a paper's errors, e.g. ba2m-table11")
    cmp.add_argument("--split", action="store_true", help=split_help)
    cmp.set_defaults(func=cmd_compare)

    pl = sub.add_parser("plot", help="training curves and a bar chart of final errors")
    pl.add_argument("runs", nargs="+", type=Path, help=runs_help)
    pl.add_argument("--out", type=Path, required=True, help="folder for curves.png, comparison.png")
    pl.add_argument("--split", action="store_true", help=split_help)
    pl.set_defaults(func=cmd_plot)

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

    bn = sub.add_parser(
        "bench",
        help="training and inference speed and memory, as ratios",
        description="Attention modules in a backbone against the baseline (default), where their "
        "time goes by operator (--profile), BA2M's GSA branch sdpa against explicit (--gsa), or "
        "the trainer against a bare loop (--trainer-overhead). Ratios and times are medians over "
        "interleaved rounds.",
    )
    mode = bn.add_mutually_exclusive_group()
    mode.add_argument(
        "--gsa", action="store_true",
        help="BA2M's GSA branch alone, gsa_impl sdpa vs explicit: peak memory and time",
    )  # fmt: skip
    mode.add_argument(
        "--profile", action="store_true",
        help="torch.profiler over one training step per variant: time in convolutions and in "
        "the rest, and the operators each variant adds to the baseline's",
    )  # fmt: skip
    mode.add_argument(
        "--trainer-overhead", action="store_true",
        help="one epoch of `attnzoo train` against a bare training loop on the same images",
    )  # fmt: skip
    bn.add_argument(
        "--models", default=None,
        help="comma-separated backbones (default resnet50_cifar; resnet20 with --trainer-overhead)",
    )  # fmt: skip
    bn.add_argument(
        "--attention", default="none,se,cbam,bam,spem,ba2m",
        help="comma-separated variants; a+b combines modules; the baseline is always measured",
    )  # fmt: skip
    bn.add_argument("--input-size", type=int, default=None, help="default 32 (56 with --gsa)")
    bn.add_argument(
        "--batch-size", type=int, default=None,
        help="default 64 (32 with --gsa, 128 with --trainer-overhead)",
    )  # fmt: skip
    bn.add_argument("--num-classes", type=int, default=None)
    bn.add_argument("--channels", type=int, default=256, help="with --gsa: input channels")
    bn.add_argument("--data", default="cifar10", help="with --trainer-overhead: dataset")
    bn.add_argument("--train-per-class", type=int, default=None, help=HELP["train_per_class"])
    bn.add_argument("--test-per-class", type=int, default=None, help=HELP["test_per_class"])
    bn.add_argument("--warmup", type=int, default=2, help="untimed rounds")
    bn.add_argument("--repeats", type=int, default=5, help="timed rounds (median reported)")
    bn.add_argument("--device", default="cpu")
    bn.add_argument("--channels-last", action="store_true")
    bn.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    bn.add_argument("--compile", action="store_true", help="torch.compile (warm-up compiles)")
    bn.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    bn.add_argument(
        "--cpu-time", action="store_true",
        help="time by this process's CPU time, not wall-clock: steadier on a shared machine, "
        "meant with OMP_NUM_THREADS=1 (not for --trainer-overhead, which reads the trainer's "
        "wall-clock epoch time)",
    )  # fmt: skip
    bn.add_argument("--out", type=Path, help="directory for bench.json, bench.csv and bench.md")
    bn.set_defaults(func=cmd_bench)

    ex = sub.add_parser(
        "export", help="write a checkpoint's network as ONNX, torch.export or TorchScript, checked"
    )
    ex.add_argument("checkpoint", type=Path, help="a .safetensors checkpoint of attnzoo train")
    ex.add_argument(
        "--format", default="onnx", choices=("onnx", "export", "torchscript"),
        help="onnx; export: a torch.export program (.pt2), for networks ONNX cannot express "
        "(BA2M with eval_mode=batch); torchscript: traced, deprecated by torch [onnx]",
    )  # fmt: skip
    ex.add_argument("--output", type=Path, help="default: the checkpoint, suffix of the format")
    ex.add_argument(
        "--input-size", type=int, help="image height and width (default: the run's, else 32)"
    )
    ex.add_argument(
        "--batch-size", type=int, default=4,
        help="random images the export is checked on; its batch axis is dynamic [4]",
    )  # fmt: skip
    ex.add_argument("--no-verify", action="store_true", help="skip the check against PyTorch")
    ex.set_defaults(func=cmd_export)

    ts = sub.add_parser(
        "tsne", help="t-SNE of checkpoints' penultimate features, with class-separation scores"
    )
    ts.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint files, one panel each")
    ts.add_argument("--out", type=Path, required=True, help="PNG to write (and a .json beside)")
    ts.add_argument("--data", default=None, help="dataset (default: the one each was trained on)")
    ts.add_argument("--split", default="test", choices=("train", "test"))
    ts.add_argument("--per-class", type=int, default=100, help="first K images of each class")
    ts.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity")
    ts.add_argument("--seed", type=int, default=0, help="t-SNE random state")
    ts.set_defaults(func=cmd_tsne)

    ins = sub.add_parser(
        "inspect", help="what BA2M learns: its weights against the samples' losses, per epoch"
    )
    ins.add_argument("run_dir", type=Path, help="run directory (epoch-NNN snapshots: --keep-every)")
    ins.add_argument("--out", type=Path, required=True, help="folder for the CSV, JSON and PNGs")
    ins.add_argument("--data", default=None, help="dataset (default: the run's)")
    ins.add_argument("--per-class", type=int, default=100, help="first K training images per class")
    ins.add_argument("--batch-size", type=int, default=None, help="N (default: the run's)")
    ins.add_argument("--images", type=int, default=6, help="images in the SAR-map grid")
    ins.add_argument("--seed", type=int, default=0, help="seed of the fixed batches' shuffle")
    ins.set_defaults(func=cmd_inspect)

    be = sub.add_parser(
        "batch-eval", help="BA2M at test time: identity against the batch softmax, per batch size"
    )
    be.add_argument("checkpoints", nargs="+", type=Path, help="checkpoints of BA2M networks")
    be.add_argument("--batch-sizes", default="1,32,256", help="comma-separated test batch sizes")
    be.add_argument("--data", default=None, help="dataset (default: the run's)")
    be.add_argument("--per-class", type=int, default=None, help="first K test images per class")
    be.add_argument("--seed", type=int, default=0, help="seed of the test images' fixed order")
    be.add_argument("--out", type=Path, help="also write the Markdown table here")
    be.set_defaults(func=cmd_batch_eval)

    ls = sub.add_parser("list", help="list models, attention modules and datasets")
    ls.set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded by sweeps, so that their results say how to reproduce them
    try:
        return args.func(args)
    # ImportError: an optional extra (plots, analysis, ONNX) is missing; the message says which.
    except (ValueError, OSError, FloatingPointError, ImportError) as err:
        print(f"attnzoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"attnzoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
