"""The GSA benchmark's mechanics and the memory it exists to show. Not its speed."""

from __future__ import annotations

import json
import math

import pytest

from attnzoo.benchmarks.gsa import GsaConfig, markdown, peak_memory_mb, run_gsa_bench
from attnzoo.cli.main import main


def test_explicit_keeps_the_attention_matrix_sdpa_does_not():
    # 8 x 1024 x 1024 float32 = 32 MiB per copy of the attention matrix; the explicit form keeps
    # the softmax for backward and builds the scores and their gradient besides.
    sdpa, explicit = run_gsa_bench(16, 32, 8, warmup=0, repeats=1)
    assert (sdpa.impl, explicit.impl) == ("sdpa", "explicit")
    assert sdpa.attn_matrix_mb == explicit.attn_matrix_mb == 32
    assert sdpa.time_ratio == sdpa.mem_ratio == 1.0
    assert explicit.peak_mem_mb > sdpa.peak_mem_mb + 32
    assert explicit.mem_ratio == pytest.approx(explicit.peak_mem_mb / sdpa.peak_mem_mb)
    assert math.isfinite(explicit.time_ratio) and explicit.time_ratio > 0
    assert "| explicit | 16 | 32 | 8 | 32 |" in markdown([sdpa, explicit])


def test_a_failing_memory_subprocess_is_reported():
    with pytest.raises(RuntimeError, match=r"memory subprocess for gsa flash failed.*GSA order"):
        peak_memory_mb(GsaConfig("flash", channels=16, input_size=4, batch_size=2))


def test_cli_gsa_mode_writes_its_rows(tmp_path, capsys):
    argv = ["bench", "--gsa", "--channels", "16", "--input-size", "6", "--batch-size", "2"]
    assert (
        main([*argv, "--warmup", "0", "--repeats", "1", "--no-memory", "--out", str(tmp_path)]) == 0
    )
    assert "| sdpa | 16 | 6 | 2 |" in capsys.readouterr().out
    data = json.loads((tmp_path / "bench.json").read_text())
    assert [r["impl"] for r in data["rows"]] == ["sdpa", "explicit"]
    assert data["args"]["mode"] == "gsa" and data["args"]["input_size"] == 6
