"""The prepared GPU benchmark (``scripts/gpu-bench.sh``): every module against its peer, eager and
compiled, on ImageNet ResNet-50 (224, bf16, channels-last) and CIFAR ResNet-50, within a time
budget.

Each group is one :func:`~attnzoo.benchmarks.bench.run_bench` call of the baseline, a module and
its peer, measured interleaved, so that a group's ratios stand on their own and the budget can
stop between groups: groups run in order of priority (eager before compiled, ImageNet before
CIFAR, default mode before reduce-overhead) and a group is skipped, and listed as skipped, once the
time spent plus the slowest group so far would pass ``--budget``. Writes ``bench.md`` (the table
for docs/benchmarks.md), ``bench.json`` and ``skipped.txt`` into ``--out``. ``--tiny`` rehearses
it on the CPU with tiny networks.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from ..io import atomic_write_text, write_json
from ..machine import describe
from .bench import BenchConfig, markdown, run_bench

MODULES = ("se", "cbam", "bam", "spem", "ba2m", "eca", "gc")
MODES = ("eager", "default", "reduce-overhead")


def _settings(tiny: bool, device: str) -> list[dict]:
    if tiny:
        return [dict(model="resnet20", input_size=16, batch_size=4, device=device)]
    gpu = dict(device=device, amp=True, channels_last=True)
    return [
        dict(model="resnet50", input_size=224, batch_size=64, **gpu),
        dict(model="resnet50_cifar", input_size=32, batch_size=256, **gpu),
    ]


def groups(tiny: bool, device: str, modes: tuple[str, ...]) -> list[list[BenchConfig]]:
    out = []
    for mode in modes:
        for setting in _settings(tiny, device):
            compiled = dict(compile=mode != "eager", compile_mode=None if mode == "eager" else mode)
            base = BenchConfig(attention=(), **setting, **compiled)
            for name in MODULES:
                module = dataclasses.replace(base, attention=(name,))
                out.append([base, module, dataclasses.replace(module, peer=True)])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny CPU rehearsal")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for all groups")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    start, slowest, rows, skipped = time.perf_counter(), 0.0, [], []
    for group in groups(args.tiny, args.device, tuple(args.modes.split(","))):
        mode = group[0].compile_mode or "eager"
        tag = f"{group[0].model} {group[1].label} {mode}"
        if slowest and time.perf_counter() - start + slowest > args.budget:
            skipped.append(tag)
            continue
        began = time.perf_counter()
        results = run_bench(
            group, warmup=args.warmup, repeats=args.repeats, memory=group[0].device != "cpu"
        )
        slowest = max(slowest, time.perf_counter() - began)
        rows += [dict(dataclasses.asdict(r), mode=mode) for r in results]
        print(f"{tag}: {time.perf_counter() - began:.0f} s", flush=True)
    tables = []
    for mode in dict.fromkeys(r["mode"] for r in rows):
        from .bench import BenchResult

        fields = {f.name for f in dataclasses.fields(BenchResult)}
        results = [
            BenchResult(**{k: v for k, v in r.items() if k in fields})
            for r in rows
            if r["mode"] == mode
        ]
        tables.append(f"### {mode}\n\n{markdown(results)}\n")
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(
        args.out / "bench.json",
        {
            "machine": describe(),
            "args": vars(args) | {"out": str(args.out)},
            "rows": rows,
            "skipped": skipped,
        },
    )
    atomic_write_text(args.out / "bench.md", "\n".join(tables))
    atomic_write_text(args.out / "skipped.txt", "".join(f"{t}\n" for t in skipped))
    print(f"done in {time.perf_counter() - start:.0f} s; {len(skipped)} groups skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
