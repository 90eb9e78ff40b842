"""Peak RSS growth of one training step, run as ``python -m attnzoo.benchmarks.memory CONFIG``.

A process's peak RSS only grows, so each configuration gets a fresh process: the model and batch
are built, the resident set is read, one training step runs (allocating the optimiser state and
every activation kept for backward), and the step's peak above the starting point is printed in
MiB. It is what the step needs on top of the model and its inputs.
"""

from __future__ import annotations

import json
import sys

import torch


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS: now; VmHWM: the peak), in MiB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024  # kB


def resident_mb() -> float:
    return _status_mb("VmRSS")


def main(argv: list[str]) -> None:
    from .bench import BenchConfig, build, train_step_fn

    fields = json.loads(argv[0])
    config = BenchConfig(**{**fields, "attention": tuple(fields["attention"])})
    torch.manual_seed(0)
    step = train_step_fn(config, build(config))
    before = resident_mb()
    step()
    # VmHWM, not getrusage's ru_maxrss: that one survives exec, so a child of a large parent
    # would report the parent's peak.
    peak = _status_mb("VmHWM")
    print(f"{max(peak - before, 0.0):.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
