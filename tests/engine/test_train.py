import json
from pathlib import Path

import pytest
import torch
from tests.fixtures import BUNDLED_CIFAR10

from attnzoo import create_model
from attnzoo.engine import TrainConfig, load_checkpoint, train
from attnzoo.engine.evaluate import evaluate_checkpoint


def small_config(data: Path, out_dir: Path, **overrides) -> TrainConfig:
    values = dict(
        model="resnet20",
        data=str(data),
        epochs=2,
        batch_size=20,
        eval_batch_size=50,
        lr=0.05,
        out_dir=str(out_dir),
        schedule="cosine",
    )
    values.update(overrides)
    return TrainConfig(**values)


def test_train_writes_metrics_checkpoint_and_summary(tiny_cifar10, tmp_path):
    config = small_config(tiny_cifar10, tmp_path / "run", attention=["spem"], train_per_class=10)
    summary = train(config, progress=False)

    lines = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["epoch"] for r in lines] == [1, 2]
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["top1"] == lines[-1]["test"]["top1"]  # final epoch, not the best one
    assert on_disk["config"]["attention"] == ["spem"]
    model = create_model("resnet20", 10, attention="spem")
    assert on_disk["params"] == sum(p.numel() for p in model.parameters())
    assert summary["data"]["train_images"] == 100 and summary["data"]["test_images"] == 40

    state = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert state["epoch"] == 2
    result = evaluate_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert result["top1"] == pytest.approx(summary["top1"])


def test_training_is_reproducible_for_a_seed(tiny_cifar10, tmp_path):
    common = {"epochs": 1, "train_per_class": 10}
    a = train(small_config(tiny_cifar10, tmp_path / "a", **common), progress=False)
    b = train(small_config(tiny_cifar10, tmp_path / "b", **common), progress=False)
    assert a["train_loss"] == b["train_loss"]
    wa = load_checkpoint(tmp_path / "a" / "checkpoint.safetensors")["model"]
    wb = load_checkpoint(tmp_path / "b" / "checkpoint.safetensors")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_aux_loss_reaches_the_optimiser(tiny_cifar10, tmp_path):
    """SPEM's p is trained only through its auxiliary loss term alpha * sum p^2 and the output."""
    train(
        small_config(
            tiny_cifar10, tmp_path / "run", attention=["spem"], epochs=1, weight_decay=0.0
        ),
        progress=False,
    )
    weights = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")["model"]
    p = [v for k, v in weights.items() if k.endswith("attn.p")]
    assert p and all(not torch.equal(v, torch.full((2,), 0.5)) for v in p)


@pytest.mark.skipif(not BUNDLED_CIFAR10.is_file(), reason="bundled CIFAR-10 archive missing")
def test_loss_falls_on_real_images(tmp_path):
    """250 real CIFAR-10 images: ResNet-20 + BA2M must start to fit them."""
    config = TrainConfig(
        model="resnet20",
        attention=["ba2m"],
        data="cifar10-jpeg",
        train_per_class=25,
        test_per_class=10,
        epochs=6,  # measured: the loss at 0.75 of the first epoch's after 6, 0.72 after 8
        batch_size=25,
        lr=0.02,
        weight_decay=0.0,
        padding=0,
        out_dir=str(tmp_path / "real"),
        schedule="constant",
    )
    train(config, progress=False)
    lines = [json.loads(x) for x in (tmp_path / "real" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train"]["loss"] for r in lines]
    assert losses[-1] < 0.85 * losses[0], losses


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"model": "resnet9000"}, "model"),
        ({"epochs": 0}, "epochs"),
        ({"lr": -0.1}, "lr"),
        ({"batch_size": 1}, "batch_size"),
        ({"schedule": "linear"}, "schedule"),
        ({"attention": ["nope"]}, "nope"),
        ({"attention": ["ba2m"], "attention_options": {"ba2m": {"sar": "x"}}}, "sar"),
        ({"attention": ["se"], "attention_options": {"ba2m": {"tau": 1}}}, "attention_options"),
        ({"val_split": 1.5}, "val_split"),
        ({"val_split": -0.1}, "val_split"),
        ({"val_split": 0.1, "augment": "imagenet"}, "val_split"),
    ],
)
def test_bad_config_is_rejected_before_work(tiny_cifar10, tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        train(small_config(tiny_cifar10, tmp_path / "bad", **override), progress=False)
    assert not (tmp_path / "bad").exists()


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        train(small_config(tmp_path / "nowhere", tmp_path / "run"), progress=False)


def test_batch_larger_than_dataset(tiny_cifar10, tmp_path):
    with pytest.raises(ValueError, match="batch_size"):
        train(small_config(tiny_cifar10, tmp_path / "run", batch_size=1000), progress=False)


def test_eval_can_switch_ba2m_to_its_batch_softmax(tiny_cifar10, tmp_path):
    """The paper's inference claim: do predictions depend on the test batch?"""
    config = small_config(tiny_cifar10, tmp_path, epochs=1, attention=["ba2m"], train_per_class=10)
    train(config, progress=False)
    path = tmp_path / "checkpoint.safetensors"
    identity = evaluate_checkpoint(path, batch_size=7)
    batch = {"ba2m": {"eval_mode": "batch"}}
    one = evaluate_checkpoint(path, batch_size=1, attention_options=batch)
    seven = evaluate_checkpoint(path, batch_size=7, attention_options=batch)
    assert one["loss"] == pytest.approx(identity["loss"], rel=1e-5)  # N softmax of one sample = 1
    assert seven["loss"] != pytest.approx(identity["loss"], rel=1e-5)
    with pytest.raises(ValueError, match="trained with \\['ba2m'\\]"):
        evaluate_checkpoint(path, attention_options={"se": {"reduction": 4}})
