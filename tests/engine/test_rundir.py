"""No run is ever replaced: train into a run refuses unless told to resume or restart."""

import json

import pytest

from attnzoo.engine import TrainConfig, train
from attnzoo.engine.rundir import claim_run_dir, run_files


def config(data, out_dir, **overrides):
    values = dict(
        model="resnet20",
        data=str(data),
        epochs=1,
        batch_size=20,
        eval_batch_size=50,
        lr=0.05,
        out_dir=str(out_dir),
        tensorboard=False,
    )
    return TrainConfig(**{**values, **overrides})


def test_a_second_train_into_a_run_refuses_then_restart_moves_it_aside(tiny_cifar10, tmp_path):
    out = tmp_path / "run"
    first = train(config(tiny_cifar10, out, attention=["se"]), progress=False)
    before = (out / "summary.json").read_bytes()
    with pytest.raises(
        FileExistsError, match=r"run already holds a run \(checkpoint.*resume: auto"
    ):
        train(config(tiny_cifar10, out), progress=False)
    assert (out / "summary.json").read_bytes() == before  # untouched
    train(config(tiny_cifar10, out), progress=False, restart=True)
    (old,) = tmp_path.glob("run.old-*")
    assert json.loads((old / "summary.json").read_text())["top1"] == first["top1"]
    assert json.loads((old / "summary.json").read_text())["attention"] == "se"
    assert json.loads((out / "summary.json").read_text())["attention"] == "none"


def test_resume_auto_continues_a_finished_run_without_training_again(tiny_cifar10, tmp_path):
    out = tmp_path / "run"
    first = train(config(tiny_cifar10, out), progress=False)
    again = train(config(tiny_cifar10, out, resume="auto"), progress=False)
    assert again["top1"] == first["top1"]
    assert not list(tmp_path.glob("run.old-*"))


def test_resume_auto_on_an_empty_directory_says_it_starts_fresh(tmp_path):
    assert "starting a fresh run" in claim_run_dir(tmp_path / "new", "auto", restart=False)
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "config.yaml").write_text("epochs: 1\n")  # a sweep writes these first
    (tmp_path / "sweep" / "metrics.jsonl").write_text("")
    assert run_files(tmp_path / "sweep") == []
    assert claim_run_dir(tmp_path / "sweep", "", restart=False) is None


def test_restart_and_resume_together_are_refused_and_restart_of_nothing_is_quiet(tmp_path):
    with pytest.raises(ValueError, match="give one of them"):
        claim_run_dir(tmp_path, "auto", restart=True)
    assert claim_run_dir(tmp_path / "none", "", restart=True) is None
    assert list(tmp_path.iterdir()) == []
