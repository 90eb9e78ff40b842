"""The prepared GPU benchmark's plan and its time guard (run on the CPU with tiny networks)."""

from __future__ import annotations

import json

from attnzoo.benchmarks import gpu


def test_every_module_is_grouped_with_its_peer_and_the_baseline_in_every_mode():
    groups = gpu.groups(tiny=False, device="cuda", modes=gpu.MODES)
    assert len(groups) == len(gpu.MODES) * 2 * len(gpu.MODULES)
    for base, module, peer in groups:
        assert base.attention == () and module.attention == peer.attention
        assert peer.peer and not module.peer and base.compile_mode == peer.compile_mode
        assert base.amp and base.channels_last
    assert {g[0].compile_mode for g in groups} == {None, "default", "reduce-overhead"}


def test_budget_skips_groups_and_says_which(tmp_path):
    out = tmp_path / "gpu"
    argv = ["--tiny", "--device", "cpu", "--modes", "eager", "--warmup", "0", "--repeats", "1"]
    assert gpu.main([*argv, "--budget", "0", "--out", str(out)]) == 0
    data = json.loads((out / "bench.json").read_text())
    # The first group always runs (nothing measured yet); with no budget the rest are skipped.
    assert [r["attention"] for r in data["rows"]] == ["none", "se", "se (peer)"]
    assert len(data["skipped"]) == len(gpu.MODULES) - 1
    assert (out / "skipped.txt").read_text().splitlines() == data["skipped"]
    assert "| resnet20 | se (peer) |" in (out / "bench.md").read_text()
