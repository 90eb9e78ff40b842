"""The Slurm executor: sweeps as job arrays and distributed runs, through submitit.

submitit (the launcher of the ConvNeXt, DeiT, DINO and DETR code bases) writes the sbatch
script, pickles the job and, on preemption or at the time limit (Slurm sends USR2
``signal_delay_s`` before the kill), requeues it: the job is a
:class:`submitit.helpers.Checkpointable` whose requeued copy trains again with ``resume:
auto`` from the run's last atomic checkpoint (written at every epoch's end and every
``save_every`` steps), so that its final weights are those of an uninterrupted run.

Each run directory records its job in ``slurm.json`` and links the job's Slurm log as
``slurm.log``. The job's state comes from ``squeue`` (clusters without an accounting database
have no ``sacct``); a run that has left the queue is done when its summary is there, failed
otherwise, with the line of its ``error.json`` or the last line of its log. A pending job whose
reason says it can never start as submitted (:func:`never_starts`) is cancelled, and waiting for
it ends at once with Slurm's reason and the option to change.

The sweep over these (which runs to submit, their outcomes) is :mod:`.sweep`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

from ..io import write_json
from ..validation import AttnzooError
from . import stop
from .config import TrainConfig
from .config_files import read_config_file
from .launch import prepare, read_error, run

SLURM_FILE = "slurm.json"
LOG_LINK = "slurm.log"
EXTRA = "the slurm executor needs submitit: pip install 'attnzoo[slurm]'"
PENDING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "RESIZING"}
DEFAULT_CPUS = 4  # CPUs per task unless the partition's nodes have fewer


@dataclass(frozen=True)
class SlurmOptions:
    """What each job asks Slurm for; a config's ``slurm`` section or the command's flags."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    time_min: int = 24 * 60  # the job's time limit; a run that needs longer is requeued
    # CPUs of each task (data loading workers + the main process); None: DEFAULT_CPUS, or fewer
    # if the partition's nodes have fewer (see fit_partition)
    cpus_per_run: int | None = None
    gpus_per_run: int = 0  # GPUs of each node of the job
    mem_gb: float | None = None  # memory of each node (None: the partition's default)
    nodes: int = 1
    tasks_per_node: int = 1  # one per GPU for a distributed run
    parallelism: int = 64  # most runs of a sweep's job array running at once
    signal_delay_s: int = 120  # USR2 this long before the time limit: time to checkpoint
    requeues: int = 3  # most requeues at the time limit (preemptions are not counted)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SlurmOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise AttnzooError(
                f"slurm: unknown option(s) {', '.join(unknown)}; known: {sorted(known)}"
            )
        options = cls(**{k: v for k, v in values.items() if v is not None})
        for key in ("time_min", "cpus_per_run", "nodes", "tasks_per_node", "parallelism"):
            value = getattr(options, key)
            if value is None and key == "cpus_per_run":
                continue  # fitted to the partition when the jobs are submitted
            if not isinstance(value, int) or value < 1:
                raise AttnzooError(f"slurm: {key}={value!r} must be a positive int")
        return options

    @classmethod
    def from_config(cls, name: str, flags: dict[str, Any]) -> SlurmOptions:
        """The ``sweep.slurm`` section of config ``name``, with the flags given laid over it."""
        section = (read_config_file(name).get("sweep") or {}).get("slurm") or {}
        if not isinstance(section, dict):
            raise AttnzooError(f"config {name}: sweep.slurm must map options to values")
        return cls.from_dict({**section, **{k: v for k, v in flags.items() if v is not None}})

    def parameters(self) -> dict[str, Any]:
        """submitit.SlurmExecutor's parameters."""
        values = {
            "partition": self.partition,
            "account": self.account,
            "qos": self.qos,
            "constraint": self.constraint,
            "time": self.time_min,
            "nodes": self.nodes,
            "ntasks_per_node": self.tasks_per_node,
            "cpus_per_task": self.cpus_per_run,
            "gpus_per_node": self.gpus_per_run or None,
            "array_parallelism": self.parallelism,
            "signal_delay_s": self.signal_delay_s,
            "stderr_to_stdout": True,
            "mem": f"{round(self.mem_gb * 1024)}MB" if self.mem_gb else None,
        }
        return {k: v for k, v in values.items() if v is not None}


class TrainJob:
    """One run, trained in the job's task(s); picklable, and requeued by submitit when checkpointed.

    (Subclassing ``submitit.helpers.Checkpointable`` would import submitit here; its
    ``checkpoint`` is this one: the same call again, which resumes from the run's checkpoint.)
    """

    def __init__(self, out_dir: str, retries: int = 0) -> None:
        self.out_dir, self.retries = out_dir, retries

    def __call__(self) -> str:
        threads = os.environ.get("SLURM_CPUS_PER_TASK")
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        # submitit's USR2 handler would checkpoint and requeue at once, wherever training is;
        # ours asks the loop to stop at its next step with a checkpoint, then hands over.
        requeue = signal.getsignal(signal.SIGUSR2)
        signal.signal(signal.SIGUSR2, lambda signum, frame: stop.request())
        stop.arm()
        try:
            run(Path(self.out_dir), self.retries)
        except stop.Stopped as stopped:
            if not callable(requeue):
                raise
            print(f"attnzoo: {stopped}, checkpoint written; requeueing", file=sys.stderr)
            requeue(signal.SIGUSR2, None)  # rank 0: checkpoint() below, requeue, exit
            while True:  # other ranks wait for the requeue to end them, as submitit wants
                signal.pause()
        return self.out_dir

    def checkpoint(self) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(TrainJob(self.out_dir, self.retries))


def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise ImportError(EXTRA) from None
    if shutil.which("sbatch") is None:
        raise OSError("the slurm executor needs Slurm's sbatch, which is not on PATH here")
    # submitit asks sacct for job states and warns on every call when there is no accounting
    # database; this module asks squeue instead, and only errors are worth showing.
    logging.getLogger("submitit").setLevel(logging.ERROR)
    return submitit


def partition_cpus(partition: str | None) -> int | None:
    """The CPUs of the largest node of ``partition`` (None: the default one), from ``sinfo``; None
    when sinfo does not know the partition."""
    if shutil.which("sinfo") is None:
        return None
    result = subprocess.run(["sinfo", "-h", "-o", "%P|%c"], capture_output=True, text=True)
    counts = []
    for line in result.stdout.splitlines():
        name, _, cpus = line.partition("|")
        chosen = name.endswith("*") if partition is None else name.rstrip("*") == partition
        if chosen and cpus.rstrip("+").isdigit():
            counts.append(int(cpus.rstrip("+")))
    return max(counts, default=None)


def fit_partition(options: SlurmOptions) -> SlurmOptions:
    """``options`` with ``cpus_per_run``, when not given, at :data:`DEFAULT_CPUS` or what a node
    of the partition has for each of its tasks, if that is fewer: a job that asks more than any
    node has never starts."""
    if options.cpus_per_run is not None:
        return options
    cpus = partition_cpus(options.partition)
    per_task = DEFAULT_CPUS if cpus is None else cpus // options.tasks_per_node
    return dataclasses.replace(options, cpus_per_run=max(1, min(DEFAULT_CPUS, per_task)))


def _executor(folder: Path, options: SlurmOptions) -> Any:
    submitit = _submitit()
    options = fit_partition(options)
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=options.requeues)
    executor.update_parameters(**options.parameters())
    return executor


def _slurm_message(err: Exception) -> str:
    """Slurm's own reason for refusing a job, in one line."""
    lines = [ln.strip() for ln in str(err).splitlines() if "error:" in ln]
    return lines[-1] if lines else str(err).strip().splitlines()[-1]


def _record(out_dir: Path, job: Any) -> None:
    write_json(out_dir / SLURM_FILE, {"job_id": job.job_id, "log": str(job.paths.stdout)})
    link = out_dir / LOG_LINK
    if link.is_symlink():
        link.unlink()
    if not link.exists():  # a file of that name that is no link of ours is kept
        link.symlink_to(job.paths.stdout)


def _submit(executor: Any, jobs: Sequence[TrainJob]) -> list[Any]:
    """Submit ``jobs`` (as one array when there are several); record each in its directory."""
    try:
        # submitit echoes sbatch's stderr before raising; the error below says it in one line.
        with contextlib.redirect_stderr(io.StringIO()):
            if len(jobs) == 1:
                submitted = [executor.submit(jobs[0])]
            else:
                with executor.batch():
                    submitted = [executor.submit(job) for job in jobs]
    except Exception as err:  # submitit's FailedJobError carries sbatch's stderr
        if "error" not in str(err):
            raise
        raise OSError(f"Slurm refused the job: {_slurm_message(err)}") from None
    for job, done in zip(jobs, submitted, strict=True):
        _record(Path(job.out_dir), done)
    return submitted


def submit(configs: Sequence, folder: Path, options: SlurmOptions, retries: int = 1) -> list[str]:
    """Submit one job per TrainConfig, as one job array; their job ids, in order."""
    executor = _executor(folder, options)
    jobs = [TrainJob(str(prepare(config)), retries) for config in configs]
    return [job.job_id for job in _submit(executor, jobs)]


def submit_training(config: TrainConfig, options: SlurmOptions) -> str:
    """Submit one run as one job of ``options.nodes`` x ``options.tasks_per_node`` tasks (one per
    GPU: DDP through the Slurm variables, see :func:`.distributed.slurm_environment`). It runs
    with ``resume: auto`` (unless it names a checkpoint), so that a requeued job resumes."""
    if not config.resume:
        config = dataclasses.replace(config, resume="auto")
    executor = _executor(Path(config.out_dir) / ".slurm" / "%j", options)
    (job,) = _submit(executor, [TrainJob(str(prepare(config)))])
    return job.job_id


class QueuedJob(NamedTuple):
    state: str  # PENDING, RUNNING, ...
    reason: str  # why it is pending (squeue's %r), "None" once running
    partition: str


# Job states after which a job never runs again (Slurm's squeue(1), JOB STATE CODES). Every other
# state is a job still in the queue, including those squeue hides by default (REQUEUED,
# REQUEUE_HOLD, SPECIAL_EXIT, ...): a requeued job passes through them on its way back to PENDING.
ENDED = frozenset(
    {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY"}
    | {"PREEMPTED", "REVOKED", "TIMEOUT"}
)


def queue(job_ids: Sequence[str] = ()) -> dict[str, QueuedJob]:
    """This user's queued jobs (array tasks expanded), by id: all, or those of ``job_ids``."""
    result = subprocess.run(
        ["squeue", "--me", "-h", "-r", "-t", "all", "-o", "%i|%T|%P|%r"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise OSError(f"squeue failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
    jobs = {}
    for line in result.stdout.splitlines():
        parts = line.split("|", 3)
        if len(parts) == 4 and parts[1] not in ENDED and (not job_ids or parts[0] in job_ids):
            jobs[parts[0]] = QueuedJob(parts[1], parts[3], parts[2])
    return jobs


# Pending reasons under which a job can never start as submitted (Slurm's job_reason_codes.html:
# a limit of the partition, account or QOS that the request exceeds, or a request that no node
# can satisfy), each with the options to change. Other reasons (Resources, Priority, QOSGrp*,
# AssocGrp*, ...) wait for other jobs to end.
NEVER = {
    "PartitionConfig": "it asks more than the partition allows: lower cpus_per_run, "
    "gpus_per_run, mem_gb or nodes, or choose another partition",
    "PartitionNodeLimit": "its node count is outside the partition's limits (or the partition's "
    "nodes are down): change nodes or the partition",
    "PartitionTimeLimit": "lower time_min or choose another partition",
    "BadConstraints": "no node can satisfy it: change constraint, cpus_per_run, gpus_per_run or "
    "mem_gb",
    "InvalidAccount": "change account",
    "AccountNotAllowed": "change account or the partition",
    "InvalidQOS": "change qos",
    "QOSNotAllowed": "change qos or the partition",
    "MaxMemPerLimit": "lower mem_gb",
    "DependencyNeverSatisfied": "a job it depends on failed",
    "ReservationDeleted": "its reservation no longer exists",
    "ReqNodeNotAvail": "no node of the partition can run it: change the partition or constraint",
}
# A per-job or per-node maximum (or a minimum) of the job's association or QOS.
PER_JOB_LIMIT = re.compile(r"(Assoc|QOS)Max\w*Per(Job|Node)|QOSMin")


def never_starts(reason: str) -> str | None:
    """What to change when squeue's ``reason`` for a pending job means it can never start, else
    None. ReqNodeNotAvail counts only when it names no unavailable node (a named node may come
    back)."""
    code, _, detail = reason.partition(",")
    if code == "ReqNodeNotAvail" and detail.strip() not in ("", "UnavailableNodes:"):
        return None
    if code in NEVER:
        return NEVER[code]
    if PER_JOB_LIMIT.match(code):
        return "it exceeds a per-job limit of its account or QOS: lower what it asks or change qos"
    return None


def _end_unstartable(jobs: dict[str, QueuedJob]) -> None:
    """Cancel the pending ``jobs`` that can never start; raise OSError naming one, if any."""
    never = {k: j for k, j in jobs.items() if j.state in PENDING and never_starts(j.reason)}
    if not never:
        return
    subprocess.run(["scancel", *never], capture_output=True)
    first, job = next(iter(never.items()))
    cpus = partition_cpus(job.partition)
    nodes = f", whose nodes have up to {cpus} CPUs" if cpus else ""
    others = f" and {len(never) - 1} more like it" if len(never) > 1 else ""
    raise OSError(
        f"Slurm job {first} can never start: {job.reason} (partition {job.partition}{nodes}); "
        f"{never_starts(job.reason)}; cancelled it{others}"
    )


def wait(job_ids: Sequence[str], poll_s: float = 2.0) -> None:
    """Return once none of ``job_ids`` is queued or running (in any state but :data:`ENDED`),
    seen on two polls in a row, in case a requeued job between its runs is missing from one
    ``squeue`` listing. A pending job
    that can never start is cancelled and raises OSError (see :func:`never_starts`)."""
    gone = 0
    while gone < 2:
        jobs = queue(job_ids)
        _end_unstartable(jobs)
        gone = 0 if jobs else gone + 1
        time.sleep(poll_s if gone < 2 else 0)


def job_id(out_dir: Path) -> str | None:
    import json

    try:
        return json.loads((out_dir / SLURM_FILE).read_text())["job_id"]
    except (OSError, ValueError, KeyError):
        return None


@dataclass(frozen=True)
class RunStatus:
    out_dir: Path
    state: str  # "missing" (never submitted), "pending", "running", "done", "failed"
    job_id: str | None
    detail: str = ""  # a failed run's last error line, or why a pending one waits

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "out_dir": str(self.out_dir)}


def run_status(out_dir: Path, finished: bool, jobs: dict[str, QueuedJob]) -> RunStatus:
    """Where one run stands; ``jobs`` from :func:`queue`."""
    job = job_id(out_dir)
    if finished:
        return RunStatus(out_dir, "done", job)
    if job in jobs:
        if jobs[job].state in PENDING:
            return RunStatus(out_dir, "pending", job, _waits_for(jobs[job].reason))
        return RunStatus(out_dir, "running", job)
    if job is None:
        return RunStatus(out_dir, "missing", None)
    return RunStatus(out_dir, "failed", job, last_error(out_dir))


def _waits_for(reason: str) -> str:
    """A pending job's reason as its status detail, with what to change if it never starts."""
    advice = never_starts(reason)
    if advice:
        return f"{reason}: can never start; {advice}"
    return "" if reason == "None" else reason


def last_error(out_dir: Path) -> str:
    error = read_error(out_dir)
    if error:
        return error["message"]
    try:
        lines = (out_dir / LOG_LINK).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no error recorded and no Slurm log"
    return lines[-1] if lines else "empty Slurm log"
