"""The prepared GPU benchmark (``scripts/gpu-bench.sh``): every module against its peer, eager and
compiled, on ImageNet ResNet-50 (224, bf16, channels-last) and CIFAR ResNet-50, then the
detection group (:mod:`.detection`: Faster R-CNN and Mask R-CNN ResNet-50 FPN at 800 x 1333,
batch 2, bf16, without attention, with BA2M and with CBAM), within a time budget.

Each group is one :func:`~attnzoo.benchmarks.bench.run_bench` call of the baseline, a module and
its peer, measured interleaved, so that a group's ratios stand on their own and the budget can
stop between groups: groups run in order of priority (eager before compiled, ImageNet before
CIFAR, default mode before reduce-overhead) and a group is skipped, and listed as skipped, once the
time spent plus the slowest group so far would pass ``--budget``. The detection groups (one per
task) come after the eager classification groups, before the compiled ones, and are also held to
``--detection-budget`` (of ``--budget``) the same way. Writes
``bench.md`` (the tables for docs/benchmarks.md), ``bench.json`` (``rows``, and the detection
group's in ``detection``) and ``skipped.txt`` into ``--out``, after every group, so that what was
measured survives the script's hard time limit. ``--tiny`` rehearses it on the CPU with tiny
networks.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from collections.abc import Callable
from pathlib import Path

from ..io import atomic_write_text, write_json
from ..machine import describe
from . import detection
from .bench import BenchConfig, BenchResult, markdown, run_bench

MODULES = ("se", "cbam", "bam", "spem", "ba2m", "eca", "gc")
MODES = ("eager", "default", "reduce-overhead")
DETECTION_MODULES = ("", "ba2m", "cbam")  # the baseline first


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


def detection_groups(tiny: bool, device: str) -> list[list[detection.DetectionBench]]:
    """One group per task, the baseline and each module of DETECTION_MODULES."""
    size = dict(model="resnet18", height=64, width=96, fpn_channels=32) if tiny else {}
    return [
        [detection.DetectionBench(task, name, device=device, **size) for name in DETECTION_MODULES]
        for task in ("detection", "instance-segmentation")
    ]


class Budget:
    """Skips a group once the time its groups took plus the slowest of them would pass
    ``seconds``; the first group always runs."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.spent, self.slowest = seconds, 0.0, 0.0

    def allows(self) -> bool:
        return not self.slowest or self.spent + self.slowest <= self.seconds

    def record(self, seconds: float) -> None:
        self.spent, self.slowest = self.spent + seconds, max(self.slowest, seconds)


Job = tuple[str, str, Callable[[], list[dict]]]  # tag, "rows" or "detection", what it measures


def plan(args: argparse.Namespace) -> list[Job]:
    """The groups in order of priority: classification in eager mode, detection, compiled."""
    jobs: list[Job] = []
    for group in groups(args.tiny, args.device, tuple(args.modes.split(","))):
        mode = group[0].compile_mode or "eager"

        def measure(group: list[BenchConfig] = group, mode: str = mode) -> list[dict]:
            memory = group[0].device != "cpu"
            results = run_bench(group, warmup=args.warmup, repeats=args.repeats, memory=memory)
            return [dict(dataclasses.asdict(r), mode=mode) for r in results]

        jobs.append((f"{group[0].model} {group[1].label} {mode}", "rows", measure))
    eager = sum(job[0].endswith(" eager") for job in jobs)
    for found in detection_groups(args.tiny, args.device) if args.detection_budget > 0 else []:
        tag = f"{found[0].name} {found[0].model} {found[0].height}x{found[0].width}"
        run = functools.partial(detection.run, found, warmup=args.warmup, repeats=args.repeats)
        jobs.insert(eager, (tag, "detection", run))
        eager += 1
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny CPU rehearsal")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for all groups")
    parser.add_argument(
        "--detection-budget", type=float, default=90.0, help="of --budget, for detection"
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    start, measured, skipped = time.perf_counter(), {"rows": [], "detection": []}, []
    overall, capped = Budget(args.budget), Budget(args.detection_budget)
    for tag, kind, measure in plan(args):
        budgets = (overall, capped) if kind == "detection" else (overall,)
        if not all(b.allows() for b in budgets):
            skipped.append(tag)
            continue
        began = time.perf_counter()
        measured[kind] += measure()
        for budget in budgets:
            budget.record(time.perf_counter() - began)
        print(f"{tag}: {time.perf_counter() - began:.0f} s", flush=True)
        _write(args, measured["rows"], measured["detection"], skipped)
    _write(args, measured["rows"], measured["detection"], skipped)
    print(f"done in {time.perf_counter() - start:.0f} s; {len(skipped)} groups skipped")
    return 0


def _write(args: argparse.Namespace, rows: list[dict], found: list[dict], skipped: list) -> None:
    """``bench.json``, ``bench.md`` and ``skipped.txt`` of what was measured so far."""
    tables = []
    fields = {f.name for f in dataclasses.fields(BenchResult)}
    for mode in dict.fromkeys(r["mode"] for r in rows):
        results = [
            BenchResult(**{k: v for k, v in r.items() if k in fields})
            for r in rows
            if r["mode"] == mode
        ]
        tables.append(f"### {mode}\n\n{markdown(results)}\n")
    if found:
        tables.append(f"### detection\n\n{detection.markdown(found)}\n")
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"machine": describe(), "args": vars(args) | {"out": str(args.out)}, "rows": rows}
    write_json(args.out / "bench.json", record | {"detection": found, "skipped": skipped})
    atomic_write_text(args.out / "bench.md", "\n".join(tables))
    atomic_write_text(args.out / "skipped.txt", "".join(f"{t}\n" for t in skipped))


if __name__ == "__main__":
    raise SystemExit(main())
