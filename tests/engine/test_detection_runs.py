"""Detection runs as users run them: two gloo processes, and ``attnzoo train`` killed with SIGKILL
and resumed, with multi-scale training, aspect-ratio grouping and decoding workers on.

Two processes cannot be compared with one process of twice the batch to a tolerance: the RPN and
RoI heads sample their anchors and proposals with each process's global RNG, so two processes
train on other samples than one. What is exact is checked instead: every rank ends with the same
model, the summary says two processes, and COCOeval over both ranks' gathered predictions equals
COCOeval of one process that predicts every test image itself.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml

pytest.importorskip("pycocotools")

from tests.engine.test_distributed import as_rank, free_port
from tests.fixtures import TINY_DETECTOR

from attnzoo.data.pasted import build_pasted_coco
from attnzoo.engine import TrainConfig, load_checkpoint, train
from attnzoo.engine.detection import Detection
from attnzoo.engine.distributed import World

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="no torch.distributed")


@pytest.fixture(scope="module")
def pasted(tmp_path_factory):
    return build_pasted_coco(tmp_path_factory.mktemp("pasted") / "set", train=8, test=4, size=64)


def tiny(data, out_dir, **values) -> dict:
    run = dict(
        attention=["ba2m"], data=str(data), epochs=1, eval_batch_size=2, out_dir=str(out_dir)
    )
    return {**TINY_DETECTOR, **run, **values}


def worker(rank: int, world: int, port: int, values: dict) -> None:
    as_rank(rank, world, port)
    evaluate = Detection.evaluate

    def keep(self, model, loader, world_):  # each rank's model and metrics at the evaluation
        metrics = evaluate(self, model, loader, world_)
        state = {"model": model.state_dict(), "metrics": torch.tensor(list(metrics.values()))}
        torch.save(state, f"{values['out_dir']}/rank{rank}.pt")
        return metrics

    Detection.evaluate = keep
    train(TrainConfig.from_dict(values), progress=False)


def test_two_processes_train_one_model_and_evaluate_every_image_once(pasted, tmp_path):
    values = tiny(pasted, tmp_path / "run", sync_bn=True, train_sizes=[48, 64])
    mp.spawn(worker, args=(2, free_port(), values), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"run/rank{r}.pt", weights_only=True) for r in range(2)]
    models = [r["model"] for r in ranks]
    assert models[0].keys() == models[1].keys()
    # Synchronised BatchNorm: the running statistics agree too (without it each rank's come from
    # its own batches, and the trainer hands every rank rank 0's before evaluating).
    assert all(torch.equal(models[0][k], models[1][k]) for k in models[0])
    assert torch.equal(ranks[0]["metrics"], ranks[1]["metrics"])
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["world_size"] == 2 and summary["config"]["train_sizes"] == [48, 64]

    config = TrainConfig.from_dict(values)
    task = Detection()
    loaders = task.build_loaders(config, World(0, 1, torch.device("cpu")))
    model = task.build_model(config, loaders.info)
    model.load_state_dict(models[0])
    metrics = task.evaluate(model, loaders.test, None)  # one process, all four test images
    assert torch.equal(torch.tensor(list(metrics.values())), ranks[0]["metrics"])
    assert metrics["box_ap50"] > 0  # a comparison of zeros would show nothing


def start(config_file, out_dir) -> subprocess.Popen:
    command = ["--config", str(config_file), "--out-dir", str(out_dir), "--resume", "auto"]
    return subprocess.Popen(
        [sys.executable, "-m", "attnzoo", "train", *command],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish(config_file, out_dir) -> None:
    process = start(config_file, out_dir)
    _, err = process.communicate()
    assert process.returncode == 0, err.decode()


def kill_after_next_save(config_file, out_dir, delay: float) -> None:
    checkpoint = out_dir / "checkpoint.safetensors"
    before = checkpoint.stat().st_mtime_ns if checkpoint.exists() else None
    process = start(config_file, out_dir)
    while process.poll() is None and (
        not checkpoint.exists() or checkpoint.stat().st_mtime_ns == before
    ):
        time.sleep(0.01)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_attnzoo_train_killed_and_resumed_ends_bit_identical(pasted, tmp_path):
    values = tiny(pasted, "", epochs=1, save_every=1, train_sizes=[32, 48, 64], workers=2)
    del values["out_dir"]
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(values))
    finish(config_file, tmp_path / "reference")
    interrupted = tmp_path / "interrupted"
    # One kill (tests/engine/test_resume.py kills classification runs several times over).
    kill_after_next_save(config_file, interrupted, random.Random(0).uniform(0, 0.3))
    assert not (interrupted / "summary.json").exists()  # the kill landed before the end
    finish(config_file, interrupted)
    expected = load_checkpoint(tmp_path / "reference/checkpoint.safetensors")["model"]
    got = load_checkpoint(interrupted / "checkpoint.safetensors")["model"]
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    lines = (interrupted / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1]
