"""The BA2M paper's protocol beside the study's: a validation split held out of the training set
chooses the best epoch (never the test set), and BA2M's test error kept on at test time."""

import json

import pytest
import torch
from tests.engine.test_train import small_config

from attnzoo.data import load_dataset
from attnzoo.engine import train
from attnzoo.engine.data import held_out_count, in_memory_loaders
from attnzoo.engine.distributed import World
from attnzoo.engine.evaluate import evaluate_checkpoint
from attnzoo.engine.runlog import best_epoch


def _record(epoch: int, val: float, test: float) -> dict:
    return {"epoch": epoch, "val": {"top1": val}, "test": {"top1": test}}


def test_the_best_epoch_is_chosen_by_validation_not_by_test():
    # The test metric peaks at epoch 2, the validation metric at epoch 3: epoch 3 is chosen, and
    # its test value reported; epochs 3 and 4 tie on validation: the earlier one wins.
    records = [_record(1, 50, 40), _record(2, 55, 70), _record(3, 60, 45), _record(4, 60, 44)]
    best = best_epoch(records, "top1", higher_is_better=True)
    assert best == {"epoch": 3, "metric": "top1", "val": {"top1": 60}, "test": {"top1": 45}}
    # A metric where lower is better picks the lowest validation value.
    assert best_epoch(records, "top1", higher_is_better=False)["epoch"] == 1
    assert best_epoch([{"epoch": 1, "test": {"top1": 9}}], "top1", True) is None


def _pixels(images: torch.Tensor) -> set[bytes]:
    return {bytes(image.flatten().tolist()) for image in images}


def test_the_validation_split_is_never_trained_on(tiny_cifar10, tmp_path):
    config = small_config(tiny_cifar10, tmp_path, val_split=0.1, seed=7)
    loaders = in_memory_loaders(config, World(0, 1, torch.device("cpu")))
    full = load_dataset(str(tiny_cifar10), "train", False)
    trained, held = loaders.train.dataset, loaders.val.dataset
    assert len(held) == held_out_count(0.1, len(full)) == 20
    assert len(trained) + len(held) == len(full) == loaders.info["train_images"] + 20
    assert not _pixels(trained.images) & _pixels(held.images)
    assert _pixels(trained.images) | _pixels(held.images) == _pixels(full.images)
    # Only the images trained on give the normalisation statistics.
    assert loaders.info["mean"][0] == pytest.approx(trained.images[:, 0].float().mean() / 255)
    again = in_memory_loaders(config, World(0, 1, torch.device("cpu")))
    assert torch.equal(again.val.dataset.images, held.images)


def test_held_out_count_refuses_to_leave_nothing_to_train():
    assert held_out_count(0.25, 10) == 2 and held_out_count(3.0, 10) == 3
    assert held_out_count(0.001, 10) == 1
    with pytest.raises(ValueError, match="none would be left"):
        held_out_count(10.0, 10)


def test_summary_records_the_best_epoch_and_ba2m_kept_on(tiny_cifar10, tmp_path):
    config = small_config(
        tiny_cifar10, tmp_path, attention=["ba2m"], val_split=20.0, train_per_class=10
    )
    summary = train(config, progress=False)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all("val" in r for r in records)
    assert summary["data"]["val_images"] == 20 and summary["data"]["train_images"] == 80
    top = max(r["val"]["top1"] for r in records)
    chosen = next(r for r in records if r["val"]["top1"] == top)
    assert summary["best"]["epoch"] == chosen["epoch"]
    assert summary["best"]["val"] == chosen["val"] and summary["best"]["test"] == chosen["test"]
    assert summary["top1"] == records[-1]["test"]["top1"]  # the final epoch, beside the best
    # Kept on: what `attnzoo eval --option ba2m.eval_mode=batch` measures at the training batch.
    kept = evaluate_checkpoint(
        tmp_path / "checkpoint.safetensors",
        batch_size=config.batch_size,
        attention_options={"ba2m": {"eval_mode": "batch"}},
    )
    assert summary["kept_on"]["batch_size"] == 20
    assert summary["kept_on"]["loss"] == pytest.approx(kept["loss"], rel=1e-5)
    assert summary["kept_on"]["top1"] == pytest.approx(kept["top1"])
    assert summary["kept_on"]["loss"] != pytest.approx(summary["test_loss"], rel=1e-5)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["best"] == summary["best"] and on_disk["kept_on"] == summary["kept_on"]


def test_a_run_without_them_records_neither(tiny_cifar10, tmp_path):
    summary = train(small_config(tiny_cifar10, tmp_path, epochs=1), progress=False)
    assert "best" not in summary and "kept_on" not in summary
    assert "val_images" not in summary["data"]
