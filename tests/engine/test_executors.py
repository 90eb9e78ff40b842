"""What the executors decide without a cluster: GPUs per concurrent run, the Slurm task
variables turned into torchrun's, Slurm options, the pending reasons that never start, the
default CPUs fitted to the partition, a config error that is not retried, and a fresh sweep."""

import json
import os

import pytest

from attnzoo.engine import local
from attnzoo.engine.distributed import launcher_rank, slurm_environment
from attnzoo.engine.local import gpu_slots
from attnzoo.engine.slurm import (
    DEFAULT_CPUS,
    QueuedJob,
    SlurmOptions,
    fit_partition,
    never_starts,
    partition_cpus,
    run_status,
)
from attnzoo.engine.sweep import Sweep, execute_sweep, plan_sweep, run_sweep
from attnzoo.run_keys import SWEEP_FILE


def test_each_concurrent_run_gets_its_own_gpus():
    assert gpu_slots(2, 1, ["0", "1", "2"]) == ["0", "1"]
    assert gpu_slots(2, 2, ["4", "5", "6", "7"]) == ["4,5", "6,7"]
    assert gpu_slots(3, None, ["0", "1", "2"]) == ["0", "1", "2"]  # one each by default
    assert gpu_slots(2, None, []) == ["", ""]  # no GPU: runs see none
    assert gpu_slots(2, 0, ["0", "1"]) == ["", ""]
    with pytest.raises(ValueError, match="need 4 GPUs; 2 are visible"):
        gpu_slots(2, 2, ["0", "1"])


def step(**extra):
    return {
        "SLURM_STEP_ID": "0",
        "SLURM_NTASKS": "4",
        "SLURM_PROCID": "3",
        "SLURM_LOCALID": "1",
        "SLURM_JOB_ID": "1234",
        "SLURM_JOB_NODELIST": "localhost",
        **extra,
    }


def test_slurm_task_variables_become_torchruns(monkeypatch):
    env = slurm_environment(step())
    assert env == {
        "RANK": "3",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "localhost",
        "MASTER_PORT": "21234",
    }
    assert slurm_environment(step(MASTER_PORT="29500"))["MASTER_PORT"] == "29500"
    assert slurm_environment(step(WORLD_SIZE="4")) == {}  # torchrun inside Slurm: torchrun's
    assert slurm_environment(step(SLURM_NTASKS="1")) == {}  # one task: no process group
    batch_script = step()
    del batch_script["SLURM_STEP_ID"]
    assert slurm_environment(batch_script) == {}
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setenv("SLURM_PROCID", "2")
    assert launcher_rank() == 2


def test_slurm_options_are_checked():
    options = SlurmOptions.from_dict({"partition": "gpu", "gpus_per_run": 1, "mem_gb": 1.5})
    assert options.parameters()["mem"] == "1536MB"
    assert options.parameters()["gpus_per_node"] == 1 and "account" not in options.parameters()
    with pytest.raises(ValueError, match=r"unknown option.*gpus\b"):
        SlurmOptions.from_dict({"gpus": 1})
    with pytest.raises(ValueError, match="time_min=0 must be a positive int"):
        SlurmOptions.from_dict({"time_min": 0})


def test_local_config_error_is_not_retried(tiny_cifar10, tmp_path):
    base = dict(data=str(tmp_path / "missing"), epochs=1, batch_size=20, tensorboard=False)
    (run,) = plan_sweep(base, models=["resnet20"], attention=[[]], seeds=1, root=tmp_path / "r")
    (outcome,) = run_sweep([run], retries=3)
    assert outcome.status == "failed" and "exit 3" in outcome.detail
    assert str(tmp_path / "missing") in outcome.detail
    assert (run.out_dir / "train.log").read_text().count("attnzoo run: error") == 1


def test_pending_reasons_that_never_start_are_told_from_those_that_wait():
    # Slurm's job_reason_codes.html: a limit of the partition, account or QOS the job exceeds.
    never = [
        "PartitionConfig",
        "PartitionNodeLimit",
        "PartitionTimeLimit",
        "BadConstraints",
        "InvalidQOS",
        "InvalidAccount",
        "QOSMaxCpuPerJobLimit",
        "AssocMaxWallDurationPerJobLimit",
        "QOSMinGRES",
        "ReqNodeNotAvail, UnavailableNodes:",
    ]
    waits = [
        "Resources",
        "Priority",
        "None",
        "BeginTime",
        "Dependency",
        "JobHeldUser",
        "QOSGrpCpuLimit",
        "AssocGrpJobsLimit",
        "QOSMaxJobsPerUserLimit",
        "AssocMaxJobsLimit",
        "ReqNodeNotAvail, UnavailableNodes:node3",
        "ReqNodeNotAvail, Reserved for maintenance",
    ]
    assert [r for r in never if never_starts(r) is None] == []
    assert [r for r in waits if never_starts(r) is not None] == []
    # What to change is named by the option of SlurmOptions, never by a command-line flag.
    assert "cpus_per_run" in never_starts("PartitionConfig")
    assert "time_min" in never_starts("PartitionTimeLimit")
    assert all("--" not in never_starts(r) for r in never)


def test_status_of_a_pending_run_gives_its_reason(tmp_path):
    (tmp_path / "slurm.json").write_text(json.dumps({"job_id": "7_0"}))

    def detail(state, reason):
        status = run_status(tmp_path, False, {"7_0": QueuedJob(state, reason, "debug")})
        return status.state, status.detail

    assert detail("PENDING", "Priority") == ("pending", "Priority")
    assert detail("PENDING", "None") == ("pending", "")
    state, why = detail("PENDING", "PartitionConfig")
    assert state == "pending" and why.startswith("PartitionConfig: can never start; ")
    assert detail("RUNNING", "None") == ("running", "")


def test_default_cpus_fit_the_partition_from_sinfo(monkeypatch, tmp_path):
    sinfo = tmp_path / "sinfo"
    sinfo.write_text("#!/bin/sh\nprintf 'debug*|2\\nbig|64\\nmixed|8\\nmixed|16+\\n'\n")
    sinfo.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert [partition_cpus(p) for p in (None, "debug", "big", "mixed", "nope")] == [
        2,
        2,
        64,
        16,
        None,
    ]
    assert fit_partition(SlurmOptions()).cpus_per_run == 2  # the default partition: 2 < 4
    assert fit_partition(SlurmOptions(partition="big")).cpus_per_run == DEFAULT_CPUS
    assert fit_partition(SlurmOptions(partition="big", tasks_per_node=32)).cpus_per_run == 2
    assert fit_partition(SlurmOptions(partition="nope")).cpus_per_run == DEFAULT_CPUS
    assert fit_partition(SlurmOptions(cpus_per_run=8)).cpus_per_run == 8  # asked for: kept


def test_fresh_moves_the_sweep_aside_and_records_it(tmp_path):
    root = tmp_path / "r"
    (root / "old-run").mkdir(parents=True)
    base = dict(data=str(tmp_path / "missing"), epochs=1, tensorboard=False)
    runs = plan_sweep(base, models=["resnet20"], attention=[[]], seeds=1, root=root)
    sweep = Sweep("tiny", runs, root, description="d")
    notes, tables = [], []
    result = execute_sweep(
        sweep, fresh=True, command="attnzoo sweep tiny", note=notes.append, tables=tables.append
    )
    (old,) = tmp_path.glob("r.old-*")
    assert (old / "old-run").is_dir() and notes == [f"fresh: moved {root} aside to {old}"]
    assert [o.status for o in result.failed] == ["failed"] and result.table is None
    assert tables == []  # no finished run: no table
    record = json.loads((root / SWEEP_FILE).read_text())
    assert record == {
        "config": "tiny",
        "description": "d",
        "published": None,
        "command": "attnzoo sweep tiny",
    }
    execute_sweep(sweep, command="attnzoo sweep tiny --jobs 2")  # trains again: appended
    assert json.loads((root / SWEEP_FILE).read_text())["command"] == (
        "attnzoo sweep tiny, then attnzoo sweep tiny --jobs 2"
    )


@pytest.mark.parametrize(
    ("cores", "jobs", "omp", "expected"),
    [
        (8, 1, None, 8),
        (8, 3, None, 2),
        (2, 4, None, 1),
        (8, 1, "1", 1),
        (8, 4, "8", 2),
        (8, 1, "x", 8),
    ],
)
def test_runs_share_the_cores_and_keep_within_omp_num_threads(
    monkeypatch, cores, jobs, omp, expected
):
    monkeypatch.setattr(local.os, "cpu_count", lambda: cores)
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    assert local.default_threads(jobs) == expected
