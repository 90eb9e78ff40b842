"""Peak memory of one step of a benchmark: CUDA's peak allocation, or on CPU the peak RSS growth
in a fresh process, ``python -m attnzoo.benchmarks.memory KIND CONFIG``.

A process's peak RSS only grows, so each configuration gets a fresh process: the step is built
(model or layer, inputs), the resident set is read, the step runs once (allocating the optimiser
state and every activation kept for backward), and its peak above the starting point is printed in
MiB. It is what the step needs on top of the model and its inputs. ``KIND`` names the benchmark
whose step is measured (``model``: :mod:`.bench`; ``gsa``: :mod:`.gsa`), ``CONFIG`` its config's
fields as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import torch


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS: now; VmHWM: the peak), in MiB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024  # kB


def resident_mb() -> float:
    return _status_mb("VmRSS")


def cuda_peak_mb(step: Callable[[], None]) -> float:
    """Peak CUDA allocation of ``step`` above what is allocated before it, in MiB, from its
    second call (the first allocates the optimiser state and the caching allocator's blocks)."""
    step()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def subprocess_peak_mb(kind: str, fields: dict[str, Any], label: str) -> float:
    """The peak RSS growth of one step of ``kind`` built from ``fields``, in a fresh process."""
    command = [sys.executable, "-m", "attnzoo.benchmarks.memory", kind, json.dumps(fields)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]  # the exception's line
        raise RuntimeError(f"memory subprocess for {label} failed: {last}")
    return float(done.stdout.strip().splitlines()[-1])


def _build_step(kind: str, fields: dict[str, Any]) -> Callable[[], None]:
    if kind == "model":
        from .bench import BenchConfig, build, train_step_fn

        config = BenchConfig(**{**fields, "attention": tuple(fields["attention"])})
        return train_step_fn(config, build(config))
    if kind == "gsa":
        from .gsa import GsaConfig, gsa_step_fn

        return gsa_step_fn(GsaConfig(**fields))
    raise ValueError(f"unknown benchmark kind {kind!r}; expected 'model' or 'gsa'")


def main(argv: list[str]) -> None:
    torch.manual_seed(0)
    step = _build_step(argv[0], json.loads(argv[1]))
    before = resident_mb()
    step()
    # VmHWM, not getrusage's ru_maxrss: that one survives exec, so a child of a large parent
    # would report the parent's peak.
    peak = _status_mb("VmHWM")
    print(f"{max(peak - before, 0.0):.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
