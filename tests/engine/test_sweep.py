"""Sweeps: the grid, skipping finished runs, failed runs reported and never counted."""

import json

import pytest

from attnzoo.cli.main import main
from attnzoo.engine.config import TrainConfig, config_dirs, read_config_file
from attnzoo.engine.sweep import plan_sweep, run_sweep, sweep_from_file
from attnzoo.report import published_errors


def shipped_configs():
    return sorted({p for d in config_dirs() if d.is_dir() for p in d.glob("*.yaml")})


@pytest.mark.parametrize("path", shipped_configs(), ids=lambda p: p.stem)
def test_every_shipped_config_plans_its_grid(path, tmp_path):
    """Each run of each config validates (models, modules, options), and its table exists."""
    runs, published, root = sweep_from_file(str(path), root=tmp_path)
    assert runs and root == tmp_path
    assert len({r.out_dir for r in runs}) == len(runs)
    if published:
        assert published_errors(published)
    assert read_config_file(path.stem) == read_config_file(str(path))  # found by name


def test_unknown_keys_and_wrong_types_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"unknown key.*epoch\b"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="epochs=True should be of type int"):
        TrainConfig.from_dict({"epochs": True})
    with pytest.raises(ValueError, match="lr='fast' should be of type float"):
        TrainConfig.from_dict({"lr": "fast"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 3\nsweep: {models: [resnet20], colour: red}\n")
    with pytest.raises(ValueError, match=r"unknown sweep key.*colour"):
        sweep_from_file(str(bad), root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"Known configs: .*ba2m-cifar100"):
        read_config_file("no-such-config")


def test_sweep_runs_skips_and_reports(tiny_cifar10, tmp_path):
    base = dict(
        data=str(tiny_cifar10), epochs=1, batch_size=20, eval_batch_size=50, lr=0.05,
        tensorboard=False,
    )  # fmt: skip
    runs = plan_sweep(
        base, models=["resnet20"], attention=[[], ["se"]], seeds=2, root=tmp_path / "results"
    )
    assert [r.out_dir.relative_to(tmp_path / "results").as_posix() for r in runs] == [
        "resnet20/none/s0", "resnet20/se/s0", "resnet20/none/s1", "resnet20/se/s1",
    ]  # fmt: skip
    seen = []
    outcomes = run_sweep(runs, jobs=2, report=seen.append)
    assert sorted(o.status for o in outcomes) == ["finished"] * 4 and len(seen) == 4
    again = run_sweep(runs, jobs=2)
    assert [o.status for o in again] == ["done"] * 4  # nothing re-trained

    # A run that crashes (a non-finite loss) is retried, then reported, never counted.
    broken = plan_sweep(
        {**base, "lr": 1e9}, models=["resnet20"], attention=[[]], seeds=1,
        root=tmp_path / "broken",
    )  # fmt: skip
    (failed,) = run_sweep(broken, retries=1)
    assert failed.status == "failed" and "non-finite" in failed.detail
    assert not (failed.run.out_dir / "summary.json").exists()
    assert (failed.run.out_dir / "train.log").read_text().count("non-finite") == 2  # retried once


def test_sweep_command_writes_tables(tiny_cifar10, tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(
        json.dumps(
            {
                "data": str(tiny_cifar10), "epochs": 1, "batch_size": 20, "eval_batch_size": 50,
                "tensorboard": False,
                "sweep": {"models": ["resnet20"], "attention": ["none", "se+ba2m"], "seeds": 1},
            }
        )
    )  # fmt: skip
    root = tmp_path / "results"
    assert main(["sweep", str(config), "--root", str(root), "--set", "lr=0.02"]) == 0
    table = (root / "results.md").read_text()
    assert "| resnet20 | none |" in table and "| resnet20 | se+ba2m |" in table
    assert (root / "results.csv").read_text().count("\n") == 3
    saved = json.loads((root / "resnet20" / "se+ba2m" / "s0" / "summary.json").read_text())
    assert saved["config"]["lr"] == 0.02 and saved["config"]["attention"] == ["se", "ba2m"]

    # docs/results.md is generated from the sweep's summaries.
    doc = tmp_path / "results.md"
    assert main(["report", str(root), "--out", str(doc)]) == 0
    text = doc.read_text()
    assert f"## {config}" in text and "200 training and 40 test images, 1 epochs" in text
    assert f"Reproduce: `attnzoo sweep {config} --root {root} --set lr=0.02`" in text
    assert "| resnet20 | se+ba2m |" in text and "Measured on" in text


def test_sweep_run_directories_stay_under_the_root(tmp_path):
    with pytest.raises(ValueError, match="escapes"):
        plan_sweep({}, models=["resnet20"], attention=[["../../x"]], seeds=1, root=tmp_path)
