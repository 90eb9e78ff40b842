"""The local executor of sweeps: runs as subprocesses of this machine, a few at a time.

Each concurrent run gets its own GPU(s) through CUDA_VISIBLE_DEVICES (``gpus_per_run``; by
default one each when the machine has GPUs), so that no two runs share ``cuda:0``; with
``gpus_per_run=0`` runs see no GPU. A crashed run is retried (it resumes from its checkpoint); a
run that failed on its configuration or data (exit :data:`~.launch.CONFIG_ERROR`) is not.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..validation import AttnzooError
from .launch import CONFIG_ERROR, prepare, read_error


def visible_gpus() -> list[str]:
    """The GPUs this process may hand out: CUDA_VISIBLE_DEVICES's entries, else all."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def gpu_slots(jobs: int, gpus_per_run: int | None, gpus: Sequence[str]) -> list[str]:
    """CUDA_VISIBLE_DEVICES for each of ``jobs`` concurrent runs: disjoint groups of GPUs."""
    if gpus_per_run is None:
        gpus_per_run = 1 if gpus else 0
    if gpus_per_run < 0:
        raise AttnzooError(f"sweep: gpus per run must be non-negative, got {gpus_per_run}")
    if gpus_per_run == 0:
        return [""] * jobs  # CPU runs: no run may pick a GPU another one uses
    if jobs * gpus_per_run > len(gpus):
        raise AttnzooError(
            f"sweep: {jobs} run(s) at a time with {gpus_per_run} GPU(s) each need "
            f"{jobs * gpus_per_run} GPUs; {len(gpus)} are visible: lower jobs or gpus_per_run"
        )
    return [",".join(gpus[i * gpus_per_run : (i + 1) * gpus_per_run]) for i in range(jobs)]


def execute(out_dir: Path, env: dict[str, str], retries: int) -> tuple[bool, str]:
    """Train one prepared run in a subprocess; (finished, why not)."""
    command = [sys.executable, "-m", "attnzoo.engine.launch", str(out_dir)]
    log_path = out_dir / "train.log"
    for _ in range(retries + 1):
        with log_path.open("a") as log:
            code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
        if code == 0:
            return True, ""
        if code == CONFIG_ERROR:
            break
    error = read_error(out_dir)
    tail = log_path.read_text().strip().splitlines()[-1:] or [""]
    line = error["message"] if error else tail[0]
    return False, f"exit {code}: {line} (see {log_path})"


def default_threads(jobs: int) -> int:
    """CPU threads of each of ``jobs`` parallel runs: the cores shared among them, and no more than
    ``OMP_NUM_THREADS`` where it is set (a process told to use one thread, such as a test worker
    beside another on two cores, would otherwise start runs that oversubscribe the cores and
    spin several times slower)."""
    share = max(1, (os.cpu_count() or 1) // jobs)
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(share, int(limit)) if limit.isdigit() and int(limit) > 0 else share


def run_local(
    configs: Sequence,
    jobs: int,
    retries: int,
    threads: int | None,
    gpus_per_run: int | None,
    done: Callable[[int, bool, str], None],
) -> None:
    """Run ``configs`` (TrainConfigs), ``jobs`` at a time, calling ``done(index, ok, detail)``."""
    if jobs < 1:
        raise AttnzooError(f"sweep: jobs must be at least 1, got {jobs}")
    slots: queue.Queue[str] = queue.Queue()
    for slot in gpu_slots(jobs, gpus_per_run, visible_gpus() if gpus_per_run != 0 else []):
        slots.put(slot)
    threads = threads or default_threads(jobs)

    def one(index: int) -> None:
        out_dir = prepare(configs[index])
        slot = slots.get()
        try:
            env = {**os.environ, "OMP_NUM_THREADS": str(threads), "CUDA_VISIBLE_DEVICES": slot}
            done(index, *execute(out_dir, env, retries))
        finally:
            slots.put(slot)

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, range(len(configs))))
