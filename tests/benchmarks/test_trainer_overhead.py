"""The trainer-overhead benchmark's mechanics on tiny data: what it runs and reports, not speed."""

from __future__ import annotations

import json
import math

import pytest

from attnzoo.benchmarks.trainer_overhead import markdown, run_overhead
from attnzoo.cli.main import main


def test_one_round_reports_both_epochs_and_their_ratios(tiny_cifar10):
    r = run_overhead(data=str(tiny_cifar10), batch_size=20, warmup=0, repeats=1)
    assert (r.model, r.train_images, r.test_images, r.steps) == ("resnet20", 200, 40, 10)
    for seconds in (r.trainer_train_s, r.bare_train_s, r.trainer_run_s, r.bare_run_s):
        assert math.isfinite(seconds) and seconds > 0
    # One round: each ratio is that round's trainer / bare.
    assert r.train_ratio == pytest.approx(r.trainer_train_s / r.bare_train_s)
    assert r.run_ratio == pytest.approx(r.trainer_run_s / r.bare_run_s)
    # The whole train() call holds its training epoch; the bare run holds the bare epoch.
    assert r.trainer_run_s > r.trainer_train_s and r.bare_run_s > r.bare_train_s
    assert "| resnet20 | 200 | 40 | 20 | 10 |" in markdown([r])


def test_subsets_and_warm_up_rounds(tiny_cifar10):
    r = run_overhead(
        data=str(tiny_cifar10),
        batch_size=8,
        train_per_class=3,
        test_per_class=1,
        warmup=1,
        repeats=1,
    )
    assert (r.train_images, r.test_images, r.steps) == (30, 10, 3)


def test_cli_trainer_overhead_mode(tiny_cifar10, tmp_path, capsys):
    argv = ["bench", "--trainer-overhead", "--data", str(tiny_cifar10), "--batch-size", "20"]
    assert main([*argv, "--warmup", "0", "--repeats", "1", "--out", str(tmp_path)]) == 0
    assert "| resnet20 | 200 | 40 | 20 | 10 |" in capsys.readouterr().out
    (row,) = json.loads((tmp_path / "bench.json").read_text())["rows"]
    assert row["train_ratio"] > 0 and row["run_ratio"] > 0
    assert (tmp_path / "bench.csv").read_text().startswith("model,train_images,")
