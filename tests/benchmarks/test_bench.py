"""The benchmark's mechanics: interleaving, ratios, memory subprocess, outputs. Not its speed."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from attnzoo.benchmarks.bench import (
    BenchConfig,
    BenchResult,
    _compare_with_twins,
    interleaved,
    median_ratio,
    peak_memory_mb,
    run_bench,
)
from attnzoo.cli.main import main


def test_rounds_call_every_function_in_turn():
    calls = []
    fns = [lambda i=i: calls.append(i) for i in range(3)]
    times = interleaved(fns, warmup=1, repeats=2)
    assert calls == [0, 1, 2] * 3  # one warm-up round, then two timed rounds
    assert [len(t) for t in times] == [2, 2, 2]
    assert all(t >= 0 for row in times for t in row)


def test_rounds_are_timed_by_the_given_clock():
    ticks = iter(range(100))
    times = interleaved([lambda: None] * 2, warmup=1, repeats=2, clock=lambda: next(ticks))
    assert times == [[1, 1], [1, 1]]  # each call spans one tick of the fake clock


def test_ratio_is_the_median_of_per_round_ratios():
    # Round 2 ran slow for both (machine drift): per-round ratios cancel it.
    assert median_ratio([2.0, 20.0, 2.2], [1.0, 10.0, 1.0]) == pytest.approx(2.0)


def test_run_bench_reports_ratios_to_the_baseline():
    configs = [BenchConfig("resnet20", a, 16, 4) for a in ((), ("se",))]
    base, se = run_bench(configs, warmup=0, repeats=2, memory=False)
    assert (base.attention, se.attention) == ("none", "se")
    assert base.train_ratio == base.infer_ratio == base.params_ratio == base.macs_ratio == 1.0
    assert se.params_ratio > 1 and se.params_m > base.params_m
    assert se.train_step_ms > 0 and se.infer_img_s > 0 and se.mem_ratio is None
    assert se.train_img_s == pytest.approx(4 / (se.train_step_ms / 1e3))


def test_peak_memory_grows_with_the_batch():
    small = peak_memory_mb(BenchConfig("resnet20", (), 32, 4))
    large = peak_memory_mb(BenchConfig("resnet20", (), 32, 64))
    assert 0 < small < large


def test_peak_memory_does_not_inherit_the_parents_peak():
    # getrusage's peak survives fork + exec: a large parent once made every child report it.
    ballast = torch.ones(2**27)  # 512 MiB held by this process
    ballast += 1
    assert peak_memory_mb(BenchConfig("resnet20", (), 32, 4)) < 256


def test_bad_model_in_the_memory_subprocess_is_reported():
    with pytest.raises(RuntimeError, match=r"memory subprocess for none failed.*unknown model"):
        peak_memory_mb(BenchConfig("resnet9", (), 32, 4))


def test_cli_writes_table_json_and_csv(tmp_path, capsys):
    argv = ["bench", "--models", "resnet20", "--attention", "se,se+ba2m", "--input-size", "16"]
    argv += ["--batch-size", "4", "--warmup", "0", "--repeats", "1", "--no-memory", "--cpu-time"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "| resnet20 | none |" in table and "| resnet20 | se+ba2m |" in table
    data = json.loads((tmp_path / "bench.json").read_text())
    assert [r["attention"] for r in data["rows"]] == ["none", "se", "se+ba2m"]
    assert data["machine"]["torch"] and data["args"]["batch_size"] == 4 and data["args"]["cpu_time"]
    rows = list(csv.DictReader((tmp_path / "bench.csv").open()))
    assert [r["attention"] for r in rows] == ["none", "se", "se+ba2m"]
    assert (tmp_path / "bench.md").read_text().startswith("| model |")


@pytest.fixture
def peerless():
    """A module registered without a peer (as a user's own would be), unregistered afterwards."""
    from attnzoo.attention import register_attention
    from attnzoo.attention.registry import _REGISTRY

    @register_attention("peerless_gain")
    class Gain(torch.nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.gain = torch.nn.Parameter(torch.ones(channels, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.gain

    yield "peerless_gain"
    _REGISTRY.pop("peerless_gain")


def test_cli_peers_adds_a_peer_row_after_each_variant_that_has_one(tmp_path, capsys, peerless):
    argv = ["bench", "--models", "resnet20", "--attention", f"se,srm,{peerless},se+ba2m"]
    argv += ["--peers", "--input-size", "16", "--batch-size", "4", "--warmup", "0"]
    assert main([*argv, "--repeats", "1", "--no-memory", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    assert [r["attention"] for r in rows] == [
        "none",
        "se",
        "se (peer)",
        "srm",
        "srm (peer)",
        peerless,
        "se+ba2m",
        "se+ba2m (peer)",
    ]
    peer, own = rows[2], rows[1]
    assert peer["params_m"] == own["params_m"] and peer["train_gmacs"] == own["train_gmacs"]
    # Each peer's row carries its module's comparison with it; one round: one ratio's range.
    compared = [r["attention"] for r in rows if r["module_ratio"] is not None]
    assert compared == ["se (peer)", "srm (peer)", "se+ba2m (peer)"]
    assert peer["module_low"] == peer["module_ratio"] == peer["module_high"]
    assert peer["module_coverage"] == 0
    out = capsys.readouterr().out
    assert "| resnet20 | se (peer) |" in out
    head = "| model | against | module's step / this step | interval | coverage | verdict |"
    assert head in out
    assert f"| resnet20 | se (peer) | {peer['module_ratio']:.3f} |" in out


def test_cli_plain_adds_a_row_with_the_fast_paths_off(tmp_path):
    argv = ["bench", "--models", "resnet20", "--attention", "se,ba2m", "--plain", "--peers"]
    argv += ["--input-size", "16", "--batch-size", "4", "--warmup", "0", "--repeats", "1"]
    assert main([*argv, "--no-memory", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    labels = [r["attention"] for r in rows]
    twins = ["se (peer)", "se (plain)", "ba2m (peer)", "ba2m (plain)"]
    assert labels == ["none", "se", *twins[:2], "ba2m", *twins[2:]]
    assert [r["attention"] for r in rows if r["module_ratio"] is not None] == twins
    # The fast paths change how a module computes, never what: its plain twin counts the same
    # multiply-adds (BA2M's GSA has one order, SDPA then the projection).
    assert rows[3]["train_gmacs"] == rows[1]["train_gmacs"]
    assert rows[6]["train_gmacs"] == rows[4]["train_gmacs"] > rows[0]["train_gmacs"]


def test_a_module_is_compared_with_its_peer_round_by_round():
    """The interval is that of the within-round ratios of the module's and the peer's steps."""
    configs = [BenchConfig("m", (), 8, 2), BenchConfig("m", ("se",), 8, 2)]
    configs.append(BenchConfig("m", ("se",), 8, 2, peer=True))
    train = [[1.0] * 5, [0.9, 1.8, 0.95, 0.92, 0.94], [1.0, 2.0, 1.0, 1.0, 1.0]]
    rows = [BenchResult(*["m", c.label, 2, 8] + [1.0] * 7 + [None] * 4) for c in configs]
    _compare_with_twins(configs, train, rows)
    module = rows[2].module_vs_this()
    assert (module.median, module.low, module.high) == (0.92, 0.9, 0.95)
    assert module.coverage == pytest.approx(1 - 2 / 32) and module.verdict() == "faster"
    assert rows[0].module_vs_this() is None and rows[1].module_vs_this() is None


def test_every_registered_module_gets_a_peer_row():
    from attnzoo.attention import get_attention_class, list_attention
    from attnzoo.cli.bench import _has_peer

    own = [n for n in list_attention() if get_attention_class(n).__module__.startswith("attnzoo.")]
    assert len(own) >= 14 and [n for n in own if not _has_peer((n,))] == []
    assert _has_peer(tuple(own)) and not _has_peer(())


def test_bench_peer_config_builds_the_peer_network():
    from attnzoo.benchmarks.bench import build
    from attnzoo.benchmarks.peers import SEPeer

    model = build(BenchConfig("resnet20", ("se",), 16, 4, peer=True))
    assert sum(isinstance(m, SEPeer) for m in model.modules()) == 9
    assert BenchConfig("resnet20", ("se",), 16, 4, peer=True).label == "se (peer)"


def test_unknown_compile_mode_is_one_clear_error(capsys):
    from attnzoo.engine.compile import compile_model

    with pytest.raises(ValueError, match="compile mode 'fast' is not valid; choose one of"):
        compile_model(torch.nn.Linear(2, 2), "fast")
    with pytest.raises(SystemExit):
        main(["bench", "--compile", "--compile-mode", "fast"])
    assert "invalid choice: 'fast'" in capsys.readouterr().err
