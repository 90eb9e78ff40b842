import json
import math
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from attnzoo import create_model
from attnzoo.analysis import class_separation, penultimate_features
from attnzoo.cli.main import main

# One worker trains the session fixture `runs` (conftest.py) for the whole folder.
pytestmark = pytest.mark.xdist_group("analysis")


def test_two_checkpoints_two_panels(runs, tmp_path, capsys):
    out = tmp_path / "tsne.png"
    snapshot, final = (
        runs["ba2m"] / "epoch-001.safetensors",
        runs["none"] / "checkpoint.safetensors",
    )
    argv = ["tsne", str(snapshot), str(final), "--out", str(out), "--perplexity", "5"]
    assert main(argv) == 0
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (960, 400)  # 2 x 4 in panels + 1.6 legend
    first, second = json.loads(out.with_suffix(".json").read_text())
    assert (first["label"], second["label"]) == ("resnet20 + ba2m", "resnet20 + none")
    # Only the final epoch gets the run's final top-1 in its title.
    summary = json.loads((runs["none"] / "summary.json").read_text())
    assert first["final_top1"] is None and second["final_top1"] == summary["top1"]
    printed = capsys.readouterr().out
    for result in (first, second):
        assert math.isfinite(result["silhouette"]) and -1 <= result["silhouette"] <= 1
        assert 0 <= result["knn_accuracy"] <= 100
        assert f"silhouette {result['silhouette']:.3f}" in printed


def test_features_are_what_the_classifier_sees():
    torch.manual_seed(0)
    model, x = create_model("resnet20", 10).train(), torch.randn(4, 3, 32, 32)
    features = penultimate_features(model, [x[:3], x[3:]])
    assert model.training  # the mode it was given back in
    model.eval()
    with torch.no_grad():
        assert torch.allclose(features, model.head(model.features(x)[-1]).mean((2, 3)))
        assert torch.allclose(model.fc(features), model(x), atol=1e-6)


def test_class_separation_by_hand():
    # Two tight clusters and one point labelled 1 inside cluster 0: its 3 nearest neighbours
    # are all of class 0, while every other point keeps a majority of its own class.
    features = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2], [0.05]])
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    assert class_separation(features, labels, k=3)["knn_accuracy"] == pytest.approx(600 / 7)
    clean = class_separation(features[:6], labels[:6], k=2)
    assert clean["knn_accuracy"] == 100 and clean["silhouette"] > 0.95
    # k=2 ties go to the nearest neighbour: 0.0 and 0.3 (class 0) both take 0.1's class 1.
    tied = np.array([[0.0], [0.1], [0.3], [10.0], [10.1], [10.2]])
    assert class_separation(tied, np.array([0, 1, 0, 1, 1, 1]), k=2)["knn_accuracy"] == 50
    with pytest.raises(ValueError, match="2 <= classes < images"):
        class_separation(features[:3], labels[:3])


@pytest.mark.parametrize(
    ("paths", "extra", "message"),
    [
        (["/no/such.safetensors"], [], "checkpoint not found: /no/such.safetensors"),
        (["ba2m"], ["--perplexity", "100"], "perplexity=100.0 must be below the number"),
        (["ba2m"], ["--per-class", "0"], "max_per_class must be a positive int"),
        (["ba2m"], ["--out", "tsne.jpg"], "must be a .png file"),
    ],
)
def test_bad_input_is_one_clear_line(runs, tmp_path, capsys, paths, extra, message):
    paths = [str(runs[p] / "checkpoint.safetensors") if p in runs else p for p in paths]
    out = tmp_path / "tsne.png"
    assert main(["tsne", *paths, "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnzoo tsne: error: ") and message in err
    assert not out.exists()


def test_missing_scikit_learn_is_named(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    checkpoint = str(runs["ba2m"] / "checkpoint.safetensors")
    assert main(["tsne", checkpoint, "--out", str(tmp_path / "t.png")]) == 2
    assert "needs scikit-learn: pip install 'attnzoo[analysis]'" in capsys.readouterr().err
