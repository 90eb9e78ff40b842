"""The profile mode's bookkeeping: operator groups and differences to the baseline. Not speed."""

from __future__ import annotations

import json

import pytest

from attnzoo.benchmarks.bench import BenchConfig, build, train_step_fn
from attnzoo.benchmarks.profile import markdown, op_times, run_profile
from attnzoo.cli.main import main


def test_op_times_cover_the_forward_and_the_backward():
    config = BenchConfig("resnet20", ("se",), 16, 4)
    ops = op_times(train_step_fn(config, build(config)))
    assert ops["aten::mkldnn_convolution"] > 0 and ops["aten::convolution_backward"] > 0
    assert ops["aten::sigmoid"] > 0 and ops["aten::sigmoid_backward"] > 0  # SE's gate, both ways
    assert all(name.startswith("aten::") and ms >= 0 for name, ms in ops.items())


def test_differences_are_to_the_first_config():
    configs = [BenchConfig("resnet20", a, 16, 4) for a in ((), ("spem",))]
    base, spem = run_profile(configs, warmup=0, repeats=2, top=100)
    assert base.extra_conv_ms == base.extra_other_ms == 0 and base.top_extra == ""
    assert base.step_ms == pytest.approx(base.conv_ms + base.other_ms)
    assert spem.other_ms == pytest.approx(base.other_ms + spem.extra_other_ms)
    grown = {entry.rsplit(" ", 1)[0] for entry in spem.top_extra.split(", ")}
    assert {"amax", "amin"} <= grown  # operators only SPEM runs
    table = markdown([base, spem])
    assert "| resnet20 | none |" in table and "| resnet20 | spem |" in table


def test_cli_profile_mode(tmp_path, capsys):
    argv = ["bench", "--profile", "--models", "resnet20", "--attention", "se"]
    argv += ["--input-size", "16", "--batch-size", "4", "--warmup", "0", "--repeats", "1"]
    argv += ["--out", str(tmp_path)]
    assert main(argv) == 0
    assert "| resnet20 | se |" in capsys.readouterr().out
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    assert [r["attention"] for r in rows] == ["none", "se"] and rows[1]["conv_ms"] > 0
