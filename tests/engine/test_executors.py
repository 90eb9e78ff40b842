"""What the executors decide without a cluster: GPUs per concurrent run, the Slurm task
variables turned into torchrun's, Slurm options, and a config error that is not retried."""

import pytest

from attnzoo.engine.distributed import launcher_rank, slurm_environment
from attnzoo.engine.local import gpu_slots
from attnzoo.engine.slurm import SlurmOptions
from attnzoo.engine.sweep import plan_sweep, run_sweep


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
        "SLURM_STEP_ID": "0", "SLURM_NTASKS": "4", "SLURM_PROCID": "3", "SLURM_LOCALID": "1",
        "SLURM_JOB_ID": "1234", "SLURM_JOB_NODELIST": "localhost", **extra,
    }  # fmt: skip


def test_slurm_task_variables_become_torchruns(monkeypatch):
    env = slurm_environment(step())
    assert env == {
        "RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "localhost",
        "MASTER_PORT": "21234",
    }  # fmt: skip
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
