"""Peak RSS growth of one training step, run as ``python -m attnzoo.benchmarks.memory CONFIG``.

A process's peak RSS only grows, so each configuration gets a fresh process: the model and batch
are built, the resident set is read, one training step runs (allocating the optimiser state and
every activation kept for backward), and the step's peak above the starting point is printed in
MiB. It is what the step needs on top of the model and its inputs.
"""

from __future__ import annotations

import json
import os
import resource
import sys

import torch


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv: list[str]) -> None:
    from .bench import BenchConfig, build, train_step_fn

    fields = json.loads(argv[0])
    config = BenchConfig(**{**fields, "attention": tuple(fields["attention"])})
    torch.manual_seed(0)
    step = train_step_fn(config, build(config))
    before = resident_mb()
    step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"{max(peak - before, 0.0):.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
