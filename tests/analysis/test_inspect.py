import contextlib
import csv
import io
import json
import math
import sys
from collections import defaultdict

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from attnzoo.analysis import find_snapshots, pearson, sar_maps, spearman, weights_and_losses
from attnzoo.attention.ba2m import BA2M
from attnzoo.cli.main import main
from attnzoo.data import load_dataset, normalize
from attnzoo.engine import load_checkpoint
from attnzoo.engine.evaluate import model_from_checkpoint

# One worker trains the session fixture `runs` (conftest.py) for the whole folder.
pytestmark = pytest.mark.xdist_group("analysis")

MODULES = ["stage_attn.0", "stage_attn.1", "stage_attn.2"]  # resnet20 + ba2m: after each stage
PER_CLASS, BATCH, SHOWN = 4, 10, 3


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


@pytest.fixture(scope="module")
def inspected(runs, tmp_path_factory):
    """`attnzoo inspect` on the BA2M run: (output folder, what it printed)."""
    out = tmp_path_factory.mktemp("inspect")
    argv = [
        "inspect",
        str(runs["ba2m"]),
        "--out",
        str(out),
        "--per-class",
        str(PER_CLASS),
        "--batch-size",
        str(BATCH),
        "--images",
        str(SHOWN),
    ]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(argv) == 0
    return out, printed.getvalue()


def test_one_row_per_epoch_and_module(inspected):
    out, printed = inspected
    rows = read_csv(out / "correlation.csv")
    assert [(int(r["epoch"]), r["module"]) for r in rows] == [
        (epoch, module) for epoch in (1, 2) for module in MODULES
    ]
    for row in rows:
        assert -1 <= float(row["spearman"]) <= 1 and -1 <= float(row["pearson"]) <= 1
        assert f"{row['module']:<20} {float(row['spearman']):+8.3f}" in printed
    saved = json.loads((out / "correlation.json").read_text())
    assert saved["batch_size"] == BATCH and saved["images"] % BATCH == 0
    assert [r["spearman"] for r in saved["rows"]] == pytest.approx(
        [float(r["spearman"]) for r in rows]
    )
    assert png_size(out / "weights_vs_loss.png") == (1600, 350)  # 4 x 3.5 in: trend + 3 modules
    assert png_size(out / "sar_maps.png") == (800, 680)  # 2-in cells, image + 3 maps; 0.8 in text


def test_weights_are_n_softmax_of_the_modules_sar(inspected, runs):
    out, _ = inspected
    batches = defaultdict(list)
    for s in read_csv(out / "samples.csv"):
        batches[int(s["epoch"]), s["module"], int(s["batch"])].append(s)
    count = json.loads((out / "correlation.json").read_text())["images"] // BATCH
    assert count >= 2 and len(batches) == 2 * len(MODULES) * count
    for rows in batches.values():
        assert np.mean([float(r["weight"]) for r in rows]) == pytest.approx(1, abs=1e-5)

    # Recompute every weight and loss from the checkpoints, without the analysis code.
    dataset = load_dataset(runs["data"], "train", max_per_class=PER_CLASS)
    for epoch, name in ((1, "epoch-001.safetensors"), (2, "checkpoint.safetensors")):
        state = load_checkpoint(runs["ba2m"] / name)
        model = model_from_checkpoint(state).train()
        for b in range(count):
            index = [int(r["index"]) for r in batches[epoch, MODULES[0], b]]
            labels = dataset.labels[index]
            images = normalize(dataset.images[index], state["data"]["mean"], state["data"]["std"])
            losses, weights = by_hand(model, images, labels)
            for module in MODULES:
                rows = batches[epoch, module, b]
                assert [int(r["index"]) for r in rows] == index
                assert [int(r["label"]) for r in rows] == labels.tolist()
                assert [float(r["loss"]) for r in rows] == pytest.approx(losses.tolist(), abs=1e-4)
                assert [float(r["weight"]) for r in rows] == pytest.approx(
                    weights[module].tolist(), abs=1e-5
                )


@torch.no_grad()
def by_hand(model, images, labels):
    """Per-sample cross-entropy, and each module's N * softmax(SAR / tau) over the batch."""
    inputs = {}
    hooks = [
        model.get_submodule(m).register_forward_pre_hook(
            lambda _, args, m=m: inputs.__setitem__(m, args[0])
        )
        for m in MODULES
    ]
    log_p = model(images).log_softmax(1)
    for hook in hooks:
        hook.remove()
    weights = {}
    for m in MODULES:
        ba2m = model.get_submodule(m)
        s = ba2m.attention_representation(inputs[m]).flatten() / ba2m.tau
        e = torch.exp(s - s.max())
        weights[m] = len(images) * e / e.sum()
    return -log_p[torch.arange(len(labels)), labels], weights


class TinyNet(nn.Module):
    """conv-BN -> BA2M -> dropout -> pooled fc, at full resolution throughout."""

    def __init__(self, sync: str = "local") -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.ba2m = BA2M(8, min_channels=8, sync=sync)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.drop(self.ba2m(self.stem(x)).mean((2, 3))))


def tiny_batch(n=6):
    torch.manual_seed(1)
    return torch.randn(n, 3, 8, 8), torch.arange(n) % 4


def test_training_forward_leaves_the_model_as_it_was():
    model, (x, y) = TinyNet().eval(), tiny_batch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = weights_and_losses(model, [(x, y)])
    second = weights_and_losses(model, [(x, y)])
    assert torch.equal(first[1], second[1])  # dropout was off: the losses are deterministic
    assert first[0]["ba2m"].mean().item() == pytest.approx(1, abs=1e-6)
    assert not any(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # Controls: a bare training forward moves BatchNorm statistics and draws dropout masks.
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))
    assert not all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_global_sync_is_the_local_softmax_in_one_process():
    x, y = tiny_batch()
    local, global_ = TinyNet("local"), TinyNet("global")
    assert torch.equal(
        weights_and_losses(global_, [(x, y)])[0]["ba2m"],
        weights_and_losses(local, [(x, y)])[0]["ba2m"],
    )
    assert global_.ba2m.sync == "global"


def test_sar_map_averages_to_the_sample_score():
    model, (x, _) = TinyNet(), tiny_batch()
    maps = sar_maps(model, x)["ba2m"]
    assert maps.shape == (6, 8, 8) and model.ba2m.sar == "sample"
    assert (maps.flatten(1).std(1) > 0.01).all()  # a map per position, not one score spread out
    with torch.no_grad():
        model.train()
        score = model.ba2m.attention_representation(model.stem(x)).flatten()
    assert maps.mean((1, 2)).tolist() == pytest.approx(score.tolist(), abs=1e-6)


def test_spearman_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, 50).astype(float)
    y = x + rng.normal(0, 2, 50)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert spearman(np.array([1.0, 2, 3]), np.array([1.0, 4, 9])) == pytest.approx(1)
    assert spearman(np.array([1.0, 2, 3]), np.array([3.0, 2, 2])) == pytest.approx(-math.sqrt(0.75))
    assert math.isnan(pearson(np.ones(3), np.arange(3.0)))


def test_snapshots_in_epoch_order(tmp_path):
    names = [
        "epoch-1000.safetensors",
        "epoch-010.safetensors",
        "epoch-002.safetensors",
        "checkpoint.safetensors",
        "checkpoint.prev.safetensors",
        "epoch-x.safetensors",
    ]
    for name in names:
        (tmp_path / name).touch()
    assert [p.name for p in find_snapshots(tmp_path)] == [
        "epoch-002.safetensors",
        "epoch-010.safetensors",
        "epoch-1000.safetensors",
        "checkpoint.safetensors",
    ]


@pytest.mark.parametrize(
    ("run", "extra", "message"),
    [
        ("none", [], "resnet20 + none has no BA2M module"),
        ("missing", [], "run directory not found"),
        ("empty", [], "no checkpoint in"),
        ("ba2m", ["--batch-size", "1000"], "batch size 1000 is larger than the"),
        ("ba2m", ["--batch-size", "1"], "batch size must be at least 2"),
        ("ba2m", ["--images", "11"], "images must be in [1, 10]"),
    ],
)
def test_bad_input_is_one_clear_line(runs, tmp_path, capsys, run, extra, message):
    (tmp_path / "empty").mkdir()
    run_dir = runs.get(run, tmp_path / run)
    out = tmp_path / "out"
    argv = ["inspect", str(run_dir), "--out", str(out), "--per-class", "4", "--batch-size", "10"]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnzoo inspect: error: ") and message in err
    assert not out.exists()


def test_missing_matplotlib_is_named(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["inspect", str(runs["ba2m"]), "--out", str(tmp_path)]) == 2
    assert "needs matplotlib: pip install 'attnzoo[analysis]'" in capsys.readouterr().err
