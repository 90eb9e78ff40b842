"""SIGKILL a run at random moments, resume it each time, and end with the uninterrupted weights.

Runs are subprocesses with one thread each, so that both sides compute in the same order.
``ATTNZOO_KILLS`` sets how many kills a run suffers (2 by default, to keep the suite short).
"""

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
from tests.fixtures import write_cifar10

from attnzoo.engine import load_checkpoint

# Together on one worker, so that both share the module's uninterrupted run.
pytestmark = pytest.mark.xdist_group("resume")

SCRIPT = (
    "import json, sys, torch; torch.set_num_threads(1); "
    "from attnzoo.engine import TrainConfig, train; "
    "train(TrainConfig.from_dict(json.loads(sys.argv[1])), progress=False)"
)
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def start(config: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(config)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish(config: dict) -> float:
    began = time.perf_counter()
    process = start(config)
    _, err = process.communicate()
    assert process.returncode == 0, err.decode()
    return time.perf_counter() - began


def weights(run_dir):
    return load_checkpoint(run_dir / "checkpoint.safetensors")["model"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[dict, Path, float]:
    """The config, and its uninterrupted run (its directory and wall time): one for both tests
    below, since how often a run saves must not change what it computes."""
    root = tmp_path_factory.mktemp("resume")
    config = dict(
        model="resnet20",
        attention=["ba2m"],
        # 100 training images, 20 of them held out: the runs' length is mostly start-up and
        # steps, where the kills land (their moments are fractions of the run's duration).
        data=str(write_cifar10(root, per_batch=20)),
        epochs=3,
        batch_size=20,
        eval_batch_size=50,
        lr=0.05,
        schedule="cosine",
        seed=3,
        val_split=20,  # a validation split evaluated each epoch must not disturb training
        save_every=0,
        resume="auto",
        tensorboard=False,
    )
    reference = root / "reference"
    return config, reference, finish({**config, "out_dir": str(reference)})


@pytest.mark.parametrize("save_every", [0, 1])
def test_killed_and_resumed_runs_end_bit_identical(run, tmp_path, save_every):
    config, reference, duration = run
    config = {**config, "save_every": save_every}

    interrupted = tmp_path / "interrupted"
    rng = random.Random(save_every)
    kills = int(os.environ.get("ATTNZOO_KILLS", "2"))
    for _ in range(kills):
        process = start({**config, "out_dir": str(interrupted)})
        time.sleep(rng.uniform(0.2, 1.0) * duration)  # anywhere: start-up, a step, a write
        process.send_signal(signal.SIGKILL)
        process.wait()
    finish({**config, "out_dir": str(interrupted)})

    expected, got = weights(reference), weights(interrupted)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    records = [
        json.loads(line) for line in (interrupted / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["epoch"] for r in records] == [1, 2, 3]  # no epoch lost or logged twice
    summary = json.loads((interrupted / "summary.json").read_text())
    assert summary["top1"] == json.loads((reference / "summary.json").read_text())["top1"]
    # The validation metrics, the best epoch they choose and BA2M kept on: the same, too.
    assert _metrics(interrupted) == _metrics(reference)
    ended = json.loads((reference / "summary.json").read_text())
    assert summary["best"] == ended["best"] and summary["kept_on"] == ended["kept_on"]


def _metrics(run_dir) -> list[dict]:
    """metrics.jsonl without its timings, which differ between any two runs."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for r in records:
        del r["train"]["seconds"], r["train"]["images_per_s"]
    return records
