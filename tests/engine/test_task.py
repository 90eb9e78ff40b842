"""A task the engine has never seen, defined here alone: regression on random tensors.

It trains, evaluates, logs, checkpoints and resumes bit-identically after kill -9 through the
shared loop, with nothing of it in the engine: the Task interface is all a new task needs.
Run as a script (``python test_task.py CONFIG_JSON``), this file trains one run of it, which is
how the kill -9 test starts the runs it kills.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnzoo.engine import Task, TrainConfig, load_checkpoint, register_task, train
from attnzoo.engine.evaluate import model_from_checkpoint
from attnzoo.engine.task import Loaders


class TensorLoader:
    """Batches of (x, y) in an order drawn from (seed, epoch); an epoch restarts at any batch."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> None:
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return len(self.x) // self.batch_size

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        order = torch.randperm(len(self.x), generator=generator)
        for i in range(self.start, len(self)):
            rows = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield self.x[rows], self.y[rows]


@register_task
class ToyRegression(Task):
    """y = x @ w + noise, fitted by a small MLP with dropout (so the RNG state matters)."""

    name = "toy-regression"
    primary_metric = "mse"
    higher_is_better = False

    def build_loaders(self, config, world):
        generator = torch.Generator().manual_seed(1234)
        x = torch.randn(640, 16, generator=generator)
        noise = 0.1 * torch.randn(640, 1, generator=generator)
        y = x @ torch.randn(16, 1, generator=generator) / 4 + noise
        train_loader = TensorLoader(x[:512], y[:512], config.batch_size, config.seed)
        test_loader = TensorLoader(x[512:], y[512:], config.eval_batch_size, 0)
        return Loaders(train_loader, test_loader, {"features": 16, "train_samples": 512})

    def build_model(self, config, info):
        return nn.Sequential(
            nn.Linear(info["features"], 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 1)
        )

    def loss(self, output, batch, config):
        loss = F.mse_loss(output, batch[1])
        return loss, len(output), {"abs_err": float((output.detach() - batch[1]).abs().sum())}

    @torch.no_grad()
    def evaluate(self, model, loader, world):
        model.eval()
        loader.set_epoch(0)
        pairs = [(model(x), y) for x, y in loader]
        errors = torch.cat([(p - y).flatten() for p, y in pairs])
        return {"loss": float(errors.pow(2).mean()), "mse": float(errors.pow(2).mean())}


CONFIG = dict(
    task="toy-regression",
    epochs=4,
    batch_size=8,
    eval_batch_size=64,
    lr=0.01,
    schedule="cosine",
    seed=5,
    resume="auto",
    tensorboard=False,
)


def test_a_task_defined_outside_the_engine_trains_and_evaluates(tmp_path):
    summary = train(TrainConfig(**CONFIG, out_dir=str(tmp_path / "run")), progress=False)
    records = [json.loads(r) for r in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    assert set(records[0]["train"]) >= {"loss", "abs_err", "images_per_s"}
    assert summary["task"] == "toy-regression"
    assert summary["primary_metric"] == "mse" and summary["higher_is_better"] is False
    assert summary["mse"] == records[-1]["test"]["mse"]
    assert records[-1]["test"]["mse"] < 0.5 * records[0]["test"]["mse"]  # it learns

    # The checkpoint rebuilds the task's model through the same task, and evaluates the same.
    state = load_checkpoint(tmp_path / "run/checkpoint.safetensors")
    model = model_from_checkpoint(state)
    task = ToyRegression()
    loaders = task.build_loaders(TrainConfig(**CONFIG), None)
    assert task.evaluate(model, loaders.test, None)["mse"] == summary["mse"]


def test_a_task_without_a_validation_split_refuses_val_split(tmp_path):
    config = TrainConfig(**CONFIG, val_split=0.1, out_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match="the toy-regression task holds out no validation split"):
        train(config, progress=False)


def test_an_unknown_task_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"task=.nope. is unknown; valid: .*toy-regression"):
        train(TrainConfig(**{**CONFIG, "task": "nope"}, out_dir=str(tmp_path)), progress=False)


def _start(config: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, json.dumps(config)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _finish(config: dict) -> None:
    process = _start(config)
    _, err = process.communicate()
    assert process.returncode == 0, err.decode()


def _kill_after_next_save(config: dict, checkpoint: Path, delay: float) -> None:
    """Start the run, wait for it to write a checkpoint, then SIGKILL it ``delay`` s later."""
    before = checkpoint.stat().st_mtime_ns if checkpoint.exists() else None
    process = _start(config)
    while process.poll() is None and (
        not checkpoint.exists() or checkpoint.stat().st_mtime_ns == before
    ):
        time.sleep(0.01)
    time.sleep(delay)  # anywhere: a step, an evaluation, a write
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_the_toy_task_resumes_bit_identically_after_kill_9(tmp_path):
    config = {**CONFIG, "epochs": 12, "save_every": 5}
    _finish({**config, "out_dir": str(tmp_path / "reference")})
    interrupted = tmp_path / "interrupted"
    rng = random.Random(0)
    for _ in range(3):
        _kill_after_next_save(
            {**config, "out_dir": str(interrupted)},
            interrupted / "checkpoint.safetensors",
            rng.uniform(0, 0.3),
        )
    assert not (interrupted / "summary.json").exists()  # every kill landed before the end
    _finish({**config, "out_dir": str(interrupted)})
    expected = load_checkpoint(tmp_path / "reference/checkpoint.safetensors")["model"]
    got = load_checkpoint(interrupted / "checkpoint.safetensors")["model"]
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    metrics = (interrupted / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in metrics] == list(range(1, 13))


if __name__ == "__main__":
    torch.set_num_threads(1)
    train(TrainConfig(**json.loads(sys.argv[1])), progress=False)
