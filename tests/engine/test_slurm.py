"""The Slurm executor against a real one-node Slurm cluster on loopback (scripts/slurm-local.sh).

(a) a sweep through Slurm gives the table of the local executor; (b) a 2-task gloo DDP job (BA2M
with sync="global") ends with the weights of one process with the same global batch; (c) a running
job signalled as preempted requeues, resumes and ends bit-identical to an uninterrupted run; (d) a
config error is reported in one line and not retried; (e) a job that asks more CPUs than the
node has ends the sweep within a minute with Slurm's reason, and by default a sweep asks no more
than the node has. Where the cluster cannot be started, these
skip with the script's one-line reason.
"""

import json
import subprocess
import time
from pathlib import Path

import pytest
import torch
from tests.fixtures import write_cifar10

from attnzoo.engine import load_checkpoint
from attnzoo.engine.config import TrainConfig
from attnzoo.engine.slurm import (
    DEFAULT_CPUS,
    SlurmOptions,
    _executor,
    queue,
    submit,
    submit_training,
    wait,
)
from attnzoo.engine.sweep import plan_sweep, run_sweep, run_sweep_slurm, sweep_status
from attnzoo.report import markdown, read_summaries
from attnzoo.report.document import sweep_rows

# One worker submits these in turn: the node's 2 CPUs fit one test's jobs (the DDP job takes both).
pytestmark = pytest.mark.xdist_group("slurm")

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm-local.sh"
OPTIONS = SlurmOptions(cpus_per_run=1, time_min=60, signal_delay_s=30)


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    if not SCRIPT.is_file():
        pytest.skip(f"no {SCRIPT.name} (not a checkout)")
    result = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip((result.stderr.strip().splitlines() or ["slurm-local.sh start failed"])[-1])


def base(data: Path) -> dict:
    return dict(
        data=str(data),
        epochs=1,
        batch_size=20,
        eval_batch_size=50,
        lr=0.05,
        tensorboard=False,
        device="cpu",
    )


def table(root: Path, runs) -> list[str]:
    """The sweep's Markdown table without its wall-time column."""
    rows = sweep_rows(root, read_summaries([r.out_dir for r in runs]))
    lines = [line.split("|") for line in markdown(rows).splitlines()]
    time_column = [cell.strip() for cell in lines[0]].index("time (s)")
    return ["|".join(cells[:time_column] + cells[time_column + 1 :]) for cells in lines]


def test_sweep_through_slurm_gives_the_local_table(slurm_cluster, tiny_cifar10, tmp_path):
    def plan(root):
        # Two runs, one a row each: a run that went astray or into the wrong row would show.
        grid = dict(models=["resnet20"], attention=[[], ["se"]], seeds=1, root=tmp_path / root)
        return plan_sweep(base(tiny_cifar10), **grid)

    local, remote = plan("local"), plan("slurm")
    began = time.perf_counter()
    assert {o.status for o in run_sweep(local, jobs=2)} == {"finished"}
    local_s = time.perf_counter() - began
    began = time.perf_counter()
    outcomes = run_sweep_slurm(remote, tmp_path / ".slurm", OPTIONS)
    slurm_s = time.perf_counter() - began
    print(f"\n2-run sweep: local executor {local_s:.1f} s, slurm executor {slurm_s:.1f} s")
    assert [o.status for o in outcomes] == ["finished"] * 2, [o.detail for o in outcomes]
    assert table(tmp_path / "slurm", remote) == table(tmp_path / "local", local)
    for run in remote:  # each run's Slurm log is in its directory
        assert (run.out_dir / "slurm.log").read_text() is not None
        assert json.loads((run.out_dir / "slurm.json").read_text())["job_id"]
    assert {s.state for s in sweep_status(remote)} == {"done"}
    again = run_sweep_slurm(remote, tmp_path / ".slurm", OPTIONS)  # nothing resubmitted
    assert [o.status for o in again] == ["done"] * 2


def weights(out_dir: Path) -> dict:
    return load_checkpoint(out_dir / "checkpoint.safetensors")["model"]


def max_difference(a: dict, b: dict) -> float:
    return max(
        (a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point()
    )


def test_two_task_ddp_job_with_global_ba2m_matches_one_process(
    slurm_cluster, tiny_cifar10, tmp_path
):
    from attnzoo.engine import train

    sinfo = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True)
    cpus = int(sinfo.stdout.split()[0])
    if cpus < 2:  # the job would wait for a second core forever
        pytest.skip(f"the Slurm node has {cpus} CPU; two tasks need 2")
    # BA2M's sync="global" softmax over the batch all-gathers over the job's process group.
    values = {
        **base(tiny_cifar10),
        "batch_size": 40,
        "lr": 0.001,
        "schedule": "constant",
        "attention": ["ba2m"],
    }
    train(TrainConfig(**values, out_dir=str(tmp_path / "one")), progress=False)
    config = TrainConfig(
        **{**values, "batch_size": 20},
        sync_bn=True,
        out_dir=str(tmp_path / "ddp"),
        attention_options={"ba2m": {"sync": "global"}},
    )
    job_id = submit_training(config, SlurmOptions(cpus_per_run=1, tasks_per_node=2))
    wait([job_id])
    log = (tmp_path / "ddp" / "slurm.log").read_text()
    assert (tmp_path / "ddp" / "summary.json").is_file(), log[-2000:]
    assert json.loads((tmp_path / "ddp" / "summary.json").read_text())["world_size"] == 2
    assert max_difference(weights(tmp_path / "one"), weights(tmp_path / "ddp")) < 1e-4


def test_preempted_job_requeues_and_ends_bit_identical(slurm_cluster, tmp_path):
    # 100 training images, 10 steps an epoch: still 28 steps left when the first checkpoint
    # (step 2) lets the test preempt the job, which it trains twice (preempted, then locally).
    data = write_cifar10(tmp_path, per_batch=20)
    values = {**base(data), "epochs": 3, "batch_size": 10, "save_every": 2}
    (run,) = plan_sweep(
        values, models=["resnet20"], attention=[["se"]], seeds=1, root=tmp_path / "p"
    )
    began = time.perf_counter()
    (job_id,) = submit([run.config], tmp_path / ".slurm", OPTIONS, retries=0)
    print(f"\nsubmit() of one job: {time.perf_counter() - began:.2f} s")
    checkpoint = run.out_dir / "checkpoint.safetensors"
    began = time.perf_counter()
    while not checkpoint.exists():  # preempt it mid-run, once it has saved something
        assert queue([job_id]), (run.out_dir / "slurm.log").read_text()[-2000:]
        assert time.perf_counter() - began < 300
        time.sleep(0.2)
    signalled = time.perf_counter()
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    while getattr(queue([job_id]).get(job_id), "state", None) != "PENDING":  # requeued
        assert time.perf_counter() - signalled < 60
        time.sleep(0.1)
    requeued = time.perf_counter()
    # Slurm holds a requeued job for 120 s (its begin time); the test need not wait that long.
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
    wait([job_id], poll_s=0.5)
    print(
        f"\npreempted job: USR2 to requeued {requeued - signalled:.1f} s, then to its end "
        f"{time.perf_counter() - requeued:.1f} s (Slurm's 120 s hold lifted)"
    )
    log = (run.out_dir / "slurm.log").read_text()
    assert "this job is preempted" in log and (run.out_dir / "summary.json").is_file(), log[-2000:]
    assert "stopped on request after epoch" in log  # checkpointed at a step boundary

    (plain,) = plan_sweep(values, models=["resnet20"], attention=[["se"]], seeds=1, root=tmp_path)
    assert run_sweep([plain], retries=0, threads=1)[0].status == "finished"
    ours, theirs = weights(run.out_dir), weights(plain.out_dir)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_config_error_is_one_line_and_not_retried(slurm_cluster, tiny_cifar10, tmp_path):
    values = {**base(tiny_cifar10), "data": str(tmp_path / "no-such-data")}
    runs = plan_sweep(values, models=["resnet20"], attention=[[]], seeds=1, root=tmp_path / "r")
    (outcome,) = run_sweep_slurm(runs, tmp_path / ".slurm", OPTIONS, retries=2)
    assert outcome.status == "failed" and "no-such-data" in outcome.detail
    assert "\n" not in outcome.detail
    log = (runs[0].out_dir / "slurm.log").read_text()
    assert "retrying" not in log  # a config error is not retried
    (status,) = sweep_status(runs)
    assert status.state == "failed" and status.detail == outcome.detail and status.job_id


def test_refused_job_gives_slurm_message_in_one_line(slurm_cluster, tiny_cifar10, tmp_path):
    runs = plan_sweep(
        base(tiny_cifar10), models=["resnet20"], attention=[[]], seeds=1, root=tmp_path
    )
    options = SlurmOptions(partition="no-such-partition", cpus_per_run=1)
    with pytest.raises(OSError, match=r"^Slurm refused the job: .*[Pp]artition[^\n]*$"):
        run_sweep_slurm(runs, tmp_path / ".slurm", options)
    assert not (runs[0].out_dir / "slurm.json").exists()  # nothing recorded as submitted


def test_missing_sbatch_or_submitit_is_one_line(monkeypatch, tmp_path):
    import builtins
    import sys

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OSError, match="sbatch"):
        _executor(tmp_path, OPTIONS)
    real_import = builtins.__import__

    def no_submitit(name, *args, **kwargs):
        if name == "submitit":
            raise ImportError("No module named 'submitit'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "submitit", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_submitit)
    with pytest.raises(ImportError, match=r"attnzoo\[slurm\]"):
        _executor(tmp_path, OPTIONS)


def test_sweep_command_on_slurm_then_status(slurm_cluster, tiny_cifar10, tmp_path, capsys):
    from attnzoo.cli.main import main

    config = tmp_path / "tiny.yaml"
    values = {**base(tiny_cifar10), "sweep": {"models": ["resnet20"], "attention": ["none"]}}
    config.write_text(
        json.dumps({**values, "sweep": {**values["sweep"], "slurm": {"time_min": 60}}})
    )
    sweep = ["sweep", str(config), "--root", str(tmp_path / "r"), "--executor", "slurm"]
    assert main([*sweep, "--cpus-per-run", "1", "--no-wait"]) == 0
    assert main([*sweep, "--cpus-per-run", "1"]) == 0  # waits, submits nothing more: the table
    assert "| resnet20 | none |" in capsys.readouterr().out
    assert main([*sweep, "--status"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert (
        line.split()[0] == "done"
        and line.split()[1]
        == json.loads((tmp_path / "r" / "resnet20" / "none" / "s0" / "slurm.json").read_text())[
            "job_id"
        ]
    )
    assert main([*sweep, "--partition", "nope"]) == 0  # finished: nothing to submit
    capsys.readouterr()
    assert main([*sweep, "--seeds", "2", "--partition", "nope"]) == 2
    (error,) = capsys.readouterr().err.splitlines()[-1:]
    assert error.startswith("attnzoo sweep: error: Slurm refused the job: ")


def node_cpus() -> int:
    sinfo = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True)
    return int(sinfo.stdout.split()[0].rstrip("+"))


def test_job_that_can_never_start_ends_the_sweep_with_slurms_reason(
    slurm_cluster, tiny_cifar10, tmp_path
):
    runs = plan_sweep(
        base(tiny_cifar10), models=["resnet20"], attention=[[], ["se"]], seeds=1, root=tmp_path
    )
    options = SlurmOptions(cpus_per_run=node_cpus() + 1, time_min=60)  # more than the node has
    began = time.perf_counter()
    with pytest.raises(OSError, match=r"^Slurm job .* never start.*PartitionConfig.*cpus_per_run"):
        run_sweep_slurm(runs, tmp_path / ".slurm", options)
    waited = time.perf_counter() - began
    print(f"\na job asking {options.cpus_per_run} CPUs of {node_cpus()}: ended in {waited:.1f} s")
    assert waited < 60
    ids = [json.loads((r.out_dir / "slurm.json").read_text())["job_id"] for r in runs]
    assert not queue(ids)  # cancelled, so that a sweep asking less submits them again
    assert {s.state for s in sweep_status(runs)} == {"failed"}


def test_sweep_command_by_default_fits_the_partition_else_ends_in_one_line(
    slurm_cluster, tiny_cifar10, tmp_path, capsys
):
    from attnzoo.cli.main import main

    config = tmp_path / "tiny.yaml"
    config.write_text(json.dumps({**base(tiny_cifar10), "sweep": {"models": ["resnet20"]}}))
    sweep = ["sweep", str(config), "--root", str(tmp_path / "r"), "--executor", "slurm"]
    began = time.perf_counter()
    assert main([*sweep, "--seeds", "2", "--cpus-per-run", str(node_cpus() + 1)]) == 2
    assert time.perf_counter() - began < 60
    (error,) = capsys.readouterr().err.splitlines()[-1:]
    assert error.startswith("attnzoo sweep: error: Slurm job ") and "PartitionConfig" in error
    assert main(sweep) == 0  # no CPU count given: what the node has, up to 4
    assert "| resnet20 | none |" in capsys.readouterr().out
    scripts = (tmp_path / "r" / ".slurm").glob("*_submission.sh")
    script = max(scripts, key=lambda p: p.stat().st_mtime)  # the second sweep's
    assert f"--cpus-per-task={min(DEFAULT_CPUS, node_cpus())}\n" in script.read_text()
