"""Peak memory of one step of a benchmark: CUDA's peak allocation, or on CPU the peak RSS growth
in a fresh process.

A process's peak RSS only grows, so each configuration gets a fresh process
(``python -m attnzoo.benchmarks.memory``): the step is built (model or layer, inputs), the resident
set is read, the step runs once (allocating the optimiser state and every activation kept for
backward), and its peak above the starting point is printed in MiB. It is what the step needs on
top of the model and its inputs. The caller says what to run: a module-level function that builds
the step from its arguments, sent to the subprocess pickled (by reference) on its stdin, so this
module knows no benchmark.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Callable

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


StepFactory = Callable[..., Callable[[], None]]


def subprocess_peak_mb(make_step: StepFactory, *args: object, label: str) -> float:
    """The peak RSS growth of one call of ``make_step(*args)``'s step, in a fresh process.

    ``make_step`` must be importable by its qualified name (a module-level function) and ``args``
    picklable, since the subprocess rebuilds the step from them.
    """
    command = [sys.executable, "-m", "attnzoo.benchmarks.memory"]
    payload = pickle.dumps((make_step, args))
    done = subprocess.run(command, input=payload, capture_output=True, check=False)
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()
        last = (stderr.splitlines() or ["no output"])[-1]  # the exception's line
        raise RuntimeError(f"memory subprocess for {label} failed: {last}")
    return float(done.stdout.decode().strip().splitlines()[-1])


def main() -> None:
    """Build the step sent on stdin, run it once, print its peak RSS growth in MiB."""
    torch.manual_seed(0)
    make_step, args = pickle.loads(sys.stdin.buffer.read())  # written by subprocess_peak_mb
    step = make_step(*args)
    before = resident_mb()
    step()
    # VmHWM, not getrusage's ru_maxrss: that one survives exec, so a child of a large parent
    # would report the parent's peak.
    peak = _status_mb("VmHWM")
    print(f"{max(peak - before, 0.0):.1f}")


if __name__ == "__main__":
    main()
