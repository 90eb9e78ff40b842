"""``attnzoo bench MODE``: speed and memory, as ratios to a baseline measured in the same run.

Modes, each a subcommand with its own defaults: ``modules`` (attention modules in a backbone
against the plain backbone), ``profile`` (where their time goes, by operator), ``gsa`` (BA2M's
GSA branch, in each order of computation) and ``trainer-overhead`` (``attnzoo train`` against a bare
loop). ``attnzoo bench --gsa|--profile|--trainer-overhead ...`` and a plain ``attnzoo bench ...``
(modules) still work: :func:`normalize_argv` turns the old flags into the subcommand.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import time
from pathlib import Path
from typing import Any

from ..attention.spec import parse_settings
from ..engine.compile import COMPILE_MODES
from ..io import atomic_write_text, write_json
from .common import say

MODES = ("modules", "profile", "gsa", "trainer-overhead")
OLD_FLAGS = {"--gsa": "gsa", "--profile": "profile", "--trainer-overhead": "trainer-overhead"}


def normalize_argv(argv: list[str]) -> list[str]:
    """``bench --gsa ...`` as ``bench gsa ...``; ``bench --models ...`` as ``bench modules ...``."""
    if not argv or argv[0] != "bench" or (len(argv) > 1 and argv[1] in (*MODES, "-h", "--help")):
        return argv
    rest = argv[1:]
    modes = [OLD_FLAGS[a] for a in rest if a in OLD_FLAGS]
    if len(modes) > 1:
        raise SystemExit("attnzoo bench: error: give one mode: " + " | ".join(MODES))
    return ["bench", *(modes or ["modules"]), *(a for a in rest if a not in OLD_FLAGS)]


def _timing(parser: argparse.ArgumentParser, cpu_time: bool = True) -> None:
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (median reported)")
    parser.add_argument("--out", type=Path, help="directory for bench.json, bench.csv, bench.md")
    if cpu_time:
        parser.add_argument("--device", default="cpu")
        parser.add_argument(
            "--cpu-time",
            action="store_true",
            help="time by this process's CPU time, not wall-clock: steadier on a shared "
            "machine, meant with OMP_NUM_THREADS=1",
        )


def _models(parser: argparse.ArgumentParser, name: str, help: str) -> None:
    mode = parser.add_parser(name, help=help, description=help)
    mode.add_argument("--models", default="resnet50_cifar", help="comma-separated backbones")
    mode.add_argument(
        "--attention",
        default="none,se,cbam,bam,spem,ba2m",
        help="settings separated by ',', modules combined by '+'; the baseline is always measured",
    )
    mode.add_argument("--input-size", type=int, default=32)
    mode.add_argument("--batch-size", type=int, default=64)
    mode.add_argument("--num-classes", type=int, default=None)
    mode.add_argument("--channels-last", action="store_true")
    mode.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    mode.add_argument("--compile", action="store_true", help="torch.compile (warm-up compiles)")
    mode.add_argument(
        "--compile-mode",
        default="default",
        choices=COMPILE_MODES,
        help="with --compile: torch.compile's mode (reduce-overhead: CUDA graphs) [default]",
    )
    mode.add_argument(
        "--peers",
        action="store_true",
        help="also measure each setting with its modules written as plain PyTorch, timm's way "
        "(a 'peer' row after it; every built-in module has a peer)",
    )
    mode.add_argument(
        "--plain",
        action="store_true",
        help="also measure each setting with the library's fast paths off (a 'plain' row after "
        "it; ATTNZOO_FAST_PATHS=0)",
    )
    mode.add_argument("--no-memory", action="store_true", help="skip peak-memory measurements")
    _timing(mode)
    mode.set_defaults(func=_run_models, profile=name == "profile")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench", help="training and inference speed and memory, as ratios", description=__doc__
    )
    modes = parser.add_subparsers(dest="mode", required=True, metavar="|".join(MODES))
    _models(modes, "modules", "attention modules in a backbone against the plain backbone")
    _models(
        modes,
        "profile",
        "torch.profiler over one training step per setting: time in "
        "convolutions and in the rest, and the operators each adds to the baseline's",
    )
    gsa = modes.add_parser("gsa", help="BA2M's GSA branch alone: sdpa against explicit")
    gsa.add_argument("--channels", type=int, default=256, help="input channels")
    gsa.add_argument("--input-size", type=int, default=56)
    gsa.add_argument("--batch-size", type=int, default=32)
    gsa.add_argument("--no-memory", action="store_true", help="skip peak-memory measurements")
    _timing(gsa)
    gsa.set_defaults(func=_run_gsa)
    overhead = modes.add_parser(
        "trainer-overhead", help="one epoch of `attnzoo train` against a bare training loop"
    )
    overhead.add_argument("--models", default="resnet20", help="comma-separated backbones")
    overhead.add_argument("--data", default="cifar10-jpeg", help="dataset")
    overhead.add_argument("--batch-size", type=int, default=128)
    overhead.add_argument("--train-per-class", type=int, help="first K training images per class")
    overhead.add_argument("--test-per-class", type=int, help="first K test images per class")
    _timing(overhead, cpu_time=False)  # it reads the trainer's wall-clock epoch time
    overhead.set_defaults(func=_run_overhead)


def _clock(args: argparse.Namespace) -> Any:
    return time.process_time if args.cpu_time else time.perf_counter


def _run_gsa(args: argparse.Namespace) -> int:
    from ..benchmarks.gsa import markdown, run_gsa_bench

    results = run_gsa_bench(
        args.channels,
        args.input_size,
        args.batch_size,
        device=args.device,
        warmup=args.warmup,
        repeats=args.repeats,
        memory=not args.no_memory,
        clock=_clock(args),
        progress=say,
    )
    return _write(args, results, markdown(results))


def _run_overhead(args: argparse.Namespace) -> int:
    from ..benchmarks.trainer_overhead import markdown, run_overhead

    results = [
        run_overhead(
            model,
            data=args.data,
            batch_size=args.batch_size,
            train_per_class=args.train_per_class,
            test_per_class=args.test_per_class,
            warmup=args.warmup,
            repeats=args.repeats,
            progress=lambda message, model=model: say(f"{model}: {message}"),
        )
        for model in args.models.split(",")
    ]
    return _write(args, results, markdown(results))


def _has_peer(variant: tuple[str, ...]) -> bool:
    """Whether every module of a setting has a peer (a user's own registered module has none)."""
    from ..benchmarks.peers import peer_names

    names = peer_names()
    return bool(variant) and all(name in names for name in variant)


def _twins(args: argparse.Namespace, variant: tuple[str, ...]) -> list[tuple[bool, bool]]:
    """(peer, fast_paths) of a setting's rows: the module, then its peer and its plain twin."""
    rows = [(False, True)]
    if args.peers and _has_peer(variant):
        rows.append((True, True))
    if args.plain and variant:
        rows.append((False, False))
    return rows


def _run_models(args: argparse.Namespace) -> int:
    from ..benchmarks import bench, profile
    from ..benchmarks.bench import BenchConfig

    variants = [tuple(s) for s in parse_settings(args.attention, "--attention ")]
    # Every ratio needs the baseline measured in the same run, first.
    variants = [(), *(v for v in variants if v != ())]
    results = []
    for model in args.models.split(","):
        configs = [
            BenchConfig(
                model,
                v,
                args.input_size,
                args.batch_size,
                args.num_classes,
                args.device,
                args.channels_last,
                args.amp,
                args.compile,
                args.compile_mode,
                peer,
                fast,
            )
            for v in variants
            for peer, fast in _twins(args, v)
        ]

        def progress(message: str, model: str = model) -> None:
            say(f"{model}: {message}")

        if args.profile:
            results += profile.run_profile(
                configs, warmup=args.warmup, repeats=args.repeats, progress=progress
            )
        else:
            results += bench.run_bench(
                configs,
                warmup=args.warmup,
                repeats=args.repeats,
                memory=not args.no_memory,
                clock=_clock(args),
                progress=progress,
            )
    return _write(args, results, (profile.markdown if args.profile else bench.markdown)(results))


def _write(args: argparse.Namespace, results: list[Any], table: str) -> int:
    """Print the table; with --out, also write bench.json (with the machine), .csv and .md."""
    from ..machine import describe as machine

    print(table)
    if args.out:
        rows = [dataclasses.asdict(r) for r in results]
        settings = {k: v for k, v in vars(args).items() if k not in ("func", "out", "argv")}
        write_json(args.out / "bench.json", {"machine": machine(), "args": settings, "rows": rows})
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(args.out / "bench.csv", text.getvalue())
        atomic_write_text(args.out / "bench.md", table + "\n")
    return 0
