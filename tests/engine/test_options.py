"""Training options: precision, memory format, optimiser variants, streaming data, failures."""

import json
import math

import pytest
import torch
from tests.data.test_stream import write_split
from tests.engine.test_train import small_config

from attnzoo import create_model
from attnzoo.engine import CheckpointError, load_checkpoint, train
from attnzoo.engine.evaluate import evaluate_checkpoint
from attnzoo.engine.optim import build_optimizer


def test_no_decay_on_norms_and_biases(tiny_cifar10, tmp_path):
    config = small_config(tiny_cifar10, tmp_path, norm_bias_decay=False, nesterov=True)
    model = create_model("resnet20", 10, attention="se")
    optimizer = build_optimizer(model, config)
    decayed, free = optimizer.param_groups
    assert decayed["weight_decay"] == config.weight_decay and free["weight_decay"] == 0
    assert all(p.ndim > 1 for p in decayed["params"]) and all(p.ndim == 1 for p in free["params"])
    bn = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert bn <= {id(p) for p in free["params"]}
    assert len(decayed["params"]) + len(free["params"]) == len(list(model.parameters()))
    assert optimizer.defaults["nesterov"]


@pytest.mark.parametrize(
    "options",
    [
        {"amp": "bf16", "channels_last": True},
        {"label_smoothing": 0.1, "nesterov": True, "norm_bias_decay": False},
    ],
)
def test_options_train_with_every_kind_of_module(tiny_cifar10, tmp_path, options):
    """BA2M's batch softmax and SPEM's aux loss under bf16 autocast and channels-last."""
    config = small_config(
        tiny_cifar10, tmp_path / "run", epochs=1, attention=["spem", "ba2m"], **options
    )
    summary = train(config, progress=False)
    assert summary["config"] | options == summary["config"]
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text())
    assert torch.isfinite(torch.tensor(record["train"]["loss"]))
    weights = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")["model"]
    assert all(v.dtype != torch.bfloat16 for v in weights.values())  # master weights stay fp32


def test_fp16_needs_a_gpu(tiny_cifar10, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="amp='fp16' needs a CUDA device"):
        train(small_config(tiny_cifar10, tmp_path, amp="fp16"), progress=False)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_cifar10, tmp_path):
    config = small_config(tiny_cifar10, tmp_path, lr=1e8, save_every=1, schedule="constant")
    with pytest.raises(
        FloatingPointError, match=r"non-finite (loss|weights) .* step \d+"
    ) as caught:
        train(config, progress=False)
    assert "last good checkpoint is kept" in str(caught.value)
    state = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_resume_refuses_a_changed_configuration(tiny_cifar10, tmp_path):
    train(small_config(tiny_cifar10, tmp_path, epochs=1), progress=False)
    with pytest.raises(ValueError, match=r"configuration changed \(lr: 0.05 -> 0.1\)"):
        train(small_config(tiny_cifar10, tmp_path, epochs=1, lr=0.1, resume="auto"), progress=False)


def test_resume_of_a_finished_run_changes_nothing(tiny_cifar10, tmp_path):
    first = train(small_config(tiny_cifar10, tmp_path, epochs=1), progress=False)
    before = load_checkpoint(tmp_path / "checkpoint.safetensors")["model"]
    again = train(small_config(tiny_cifar10, tmp_path, epochs=1, resume="auto"), progress=False)
    after = load_checkpoint(tmp_path / "checkpoint.safetensors")["model"]
    assert again["top1"] == first["top1"]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_resume_from_a_corrupt_checkpoint_falls_back_to_the_previous(tiny_cifar10, tmp_path):
    train(small_config(tiny_cifar10, tmp_path, epochs=2), progress=False)
    path = tmp_path / "checkpoint.safetensors"
    path.write_bytes(path.read_bytes()[:1000])  # truncated, as by a full disk
    with pytest.warns(UserWarning, match="trying the previous checkpoint"):
        summary = train(
            small_config(tiny_cifar10, tmp_path, epochs=2, resume="auto"), progress=False
        )
    assert summary["epochs"] == 2 and load_checkpoint(path)["epoch"] == 2
    path.write_bytes(b"garbage")
    (tmp_path / "checkpoint.prev.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        train(small_config(tiny_cifar10, tmp_path, epochs=2, resume="auto"), progress=False)


def test_imagenet_layout_trains_streamed_and_evaluates(tmp_path):
    for split in ("train", "val"):
        write_split(tmp_path / "data" / split)
    config = small_config(
        tmp_path / "data",
        tmp_path / "run",
        augment="imagenet",
        image_size=16,
        workers=1,
        batch_size=3,
        eval_batch_size=4,
        epochs=1,
    )
    summary = train(config, progress=False)
    assert summary["data"]["classes"] == ["ant", "bee", "cat"]
    assert summary["data"]["train_images"] == 9
    result = evaluate_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert result["top1"] == pytest.approx(summary["top1"]) and result["images"] == 9


def test_compiled_training_matches_eager_closely(tiny_cifar10, tmp_path):
    """torch.compile (inductor) through the whole trainer, BA2M's batch softmax included.

    One step (20 images, batch 20): inductor fuses reductions in another order, and longer runs
    amplify those rounding differences into visibly different weights. BA2M after the last stage
    only: each stage's width is kernels of its own for inductor to generate and compile (BA2M
    after every stage took twice the time).
    """
    runs = {}
    for compile in (False, True):
        out_dir = tmp_path / str(compile)
        config = small_config(
            tiny_cifar10,
            out_dir,
            epochs=1,
            attention=["ba2m"],
            attention_options={"ba2m": {"placement": "stage", "stages": [3]}},
            train_per_class=2,
            compile=compile,
        )
        runs[compile] = (
            train(config, progress=False)["train_loss"],
            load_checkpoint(out_dir / "checkpoint.safetensors")["model"],
        )
    (eager_loss, a), (compiled_loss, b) = runs[False], runs[True]
    assert a.keys() == b.keys()  # the plain model's names, not the compiled wrapper's
    assert compiled_loss == pytest.approx(eager_loss, rel=1e-4)
    assert max((a[k] - b[k]).abs().max().item() for k in a if a[k].is_floating_point()) < 1e-4


def test_tensorboard_event_files(tiny_cifar10, tmp_path):
    pytest.importorskip("tensorboard")
    train(small_config(tiny_cifar10, tmp_path, epochs=1, tensorboard=True), progress=False)
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 100


def test_a_full_disk_stops_the_run_and_keeps_the_last_checkpoint(
    tiny_cifar10, tmp_path, monkeypatch
):
    import errno

    from attnzoo.engine import checkpoint

    writes = []
    real_write = checkpoint.atomic_write

    def filling_disk(path, write):
        writes.append(path)
        if len(writes) == 2:  # the second checkpoint: the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(path, write)

    monkeypatch.setattr(checkpoint, "atomic_write", filling_disk)
    with pytest.raises(CheckpointError, match=r"No space left on device.*is intact"):
        train(small_config(tiny_cifar10, tmp_path, epochs=3), progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.safetensors")["epoch"] == 1
    assert not list(tmp_path.glob(".checkpoint*"))  # no temporary file left behind


def test_config_files_cannot_choose_where_to_write(tmp_path):
    from attnzoo.engine.config_files import read_config_file

    for out_dir in ("/etc/attnzoo", "../outside"):
        path = tmp_path / "evil.yaml"
        path.write_text(f"out_dir: {out_dir}\n")
        with pytest.raises(ValueError, match="must be a relative path inside"):
            read_config_file(str(path))


@pytest.mark.parametrize("loss", ["focal", "ohem"])
def test_loss_reweighting_baselines_train(tiny_cifar10, tmp_path, loss):
    summary = train(small_config(tiny_cifar10, tmp_path, epochs=1, loss=loss), progress=False)
    assert summary["config"]["loss"] == loss and math.isfinite(summary["train_loss"])


def test_keep_every_leaves_epoch_snapshots(tiny_cifar10, tmp_path):
    train(small_config(tiny_cifar10, tmp_path, epochs=3, keep_every=2), progress=False)
    assert sorted(p.name for p in tmp_path.glob("epoch-*")) == ["epoch-002.safetensors"]
    assert load_checkpoint(tmp_path / "epoch-002.safetensors")["epoch"] == 2
    assert load_checkpoint(tmp_path / "checkpoint.safetensors")["epoch"] == 3


def test_tensorboard_asked_for_but_missing_warns_once_naming_the_extra(tmp_path, monkeypatch):
    import sys

    from attnzoo.engine.runlog import RunLog

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import raises
    with pytest.warns(UserWarning, match=r"attnzoo\[tensorboard\]") as caught:
        log = RunLog(tmp_path, epochs_done=0, tensorboard=True)
    assert log.writer is None and len(caught) == 1
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not asked for: no warning
        assert RunLog(tmp_path, epochs_done=0, tensorboard=False).writer is None
