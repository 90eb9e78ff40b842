"""Sweeps: the grid, skipping finished runs, failed runs reported and never counted."""

import json

import pytest
from tests.fixtures import write_cifar10

from attnzoo.cli.main import main
from attnzoo.engine.config import TrainConfig
from attnzoo.engine.config_files import packaged_configs, read_config_file
from attnzoo.engine.sweep import plan_sweep, run_sweep, sweep_from_file
from attnzoo.models.sources import cache_weights
from attnzoo.report import published_table


@pytest.fixture
def small_cifar10(tmp_path):
    """50 training and 10 test images: a sweep's runs are then mostly their start-up."""
    return write_cifar10(tmp_path, per_batch=10)


def shipped_configs():
    return sorted(p for p in packaged_configs().iterdir() if p.name.endswith(".yaml"))


@pytest.mark.parametrize("path", shipped_configs(), ids=lambda p: p.stem)
def test_every_shipped_config_plans_its_grid(path, tmp_path, caches):
    """Each run of each config validates (models, modules, options), and its table exists.

    Planning checks that a pretrained source's file is where timm or torchvision keep it; an
    empty file in temporary caches stands in for the weights, which planning does not read."""
    source = read_config_file(str(path)).get("pretrained")
    if source:
        cache_weights(source, {})
    sweep = sweep_from_file(str(path), root=tmp_path / "results")
    runs, published, root = sweep.runs, sweep.published, sweep.root
    assert runs and root == tmp_path / "results"
    assert len({r.out_dir for r in runs}) == len(runs)
    if published:
        assert published_table(published).rows
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
        data=str(tiny_cifar10),
        epochs=1,
        batch_size=20,
        eval_batch_size=50,
        lr=0.05,
        tensorboard=False,
    )
    runs = plan_sweep(
        base, models=["resnet20"], attention=[[], ["se"]], seeds=2, root=tmp_path / "sweep"
    )
    assert [r.out_dir.relative_to(tmp_path / "sweep").as_posix() for r in runs] == [
        "resnet20/none/s0",
        "resnet20/se/s0",
        "resnet20/none/s1",
        "resnet20/se/s1",
    ]
    seen = []
    runs = runs[:2]  # seed 0 of each: two runs at a time are what this checks
    outcomes = run_sweep(runs, jobs=2, report=seen.append)
    assert sorted(o.status for o in outcomes) == ["finished"] * 2 and len(seen) == 2
    again = run_sweep(runs, jobs=2)
    assert [o.status for o in again] == ["done"] * 2  # nothing re-trained

    # A run that crashes (a non-finite loss) is retried, then reported, never counted.
    broken = plan_sweep(
        {**base, "lr": 1e9},
        models=["resnet20"],
        attention=[[]],
        seeds=1,
        root=tmp_path / "broken",
    )
    (failed,) = run_sweep(broken, retries=1)
    assert failed.status == "failed" and "non-finite" in failed.detail
    assert not (failed.run.out_dir / "summary.json").exists()
    assert (failed.run.out_dir / "train.log").read_text().count("non-finite") == 2  # retried once


def test_sweep_command_writes_tables(small_cifar10, tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(
        json.dumps(
            {
                "data": str(small_cifar10),
                "epochs": 1,
                "batch_size": 20,
                "eval_batch_size": 50,
                "tensorboard": False,
                "sweep": {"models": ["resnet20"], "attention": ["none", "se+ba2m"], "seeds": 1},
            }
        )
    )
    root = tmp_path / "sweep"  # not results/: dirty code would be refused there
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
    assert f"## {config}" in text and "50 training and 10 test images, 1 epochs" in text
    assert f"Reproduce: `attnzoo sweep {config} --root {root} --set lr=0.02`" in text
    assert "| resnet20 | se+ba2m |" in text and "Measured on" in text


def test_sweep_run_directories_stay_under_the_root(tmp_path):
    with pytest.raises(ValueError, match="escapes"):
        plan_sweep({}, models=["resnet20"], attention=[["../../x"]], seeds=1, root=tmp_path)


def write_yaml(path, values):
    path.write_text(json.dumps(values))  # JSON is YAML
    return str(path)


def test_variants_repeat_the_grid_once_per_setting(tmp_path):
    config = write_yaml(
        tmp_path / "ablation.yaml",
        {
            "epochs": 2,
            "attention_options": {"ba2m": {"tau": 0.5}},
            "sweep": {
                "models": ["resnet20"],
                "attention": ["ba2m"],
                "seeds": 2,
                "variants": {
                    "default": None,
                    "ca": {"attention_options": {"ba2m": {"branches": "ca"}}},
                    "batch-64": {"batch_size": 64, "attention": ["none", "ba2m"]},
                },
            },
        },
    )
    sweep = sweep_from_file(config, root=tmp_path / "r")
    runs, root = sweep.runs, sweep.root
    assert sweep.variants == ["default", "ca", "batch-64"]  # all of them: the table's rows
    dirs = [r.out_dir.relative_to(root).as_posix() for r in runs]
    assert (
        dirs[:4]
        == [
            "default/resnet20/ba2m/s0",
            "ca/resnet20/ba2m/s0",
            "batch-64/resnet20/none/s0",
            "batch-64/resnet20/ba2m/s0",
        ]
        and len(runs) == 8
    )
    # A variant changes one option and keeps the file's others.
    assert runs[1].config.attention_options == {"ba2m": {"tau": 0.5, "branches": "ca"}}
    assert runs[0].config.attention_options == {"ba2m": {"tau": 0.5}}
    assert runs[2].config.attention_options == {} and runs[0].config.epochs == 2
    assert [r.config.batch_size for r in runs[:4]] == [128, 128, 64, 64]

    chosen = sweep_from_file(config, root=tmp_path / "r", variants=["ca"]).runs
    assert [r.out_dir.parent.parent.parent.name for r in chosen] == ["ca", "ca"]
    with pytest.raises(ValueError, match=r"no variant.*nope.*it has default, ca, batch-64"):
        sweep_from_file(config, root=tmp_path / "r", variants=["nope"])
    plain = write_yaml(tmp_path / "plain.yaml", {"sweep": {"models": ["resnet20"]}})
    with pytest.raises(ValueError, match="no sweep variants"):
        sweep_from_file(plain, root=tmp_path / "r", variants=["ca"])


def test_a_config_extends_another_without_its_sweep(tmp_path):
    parent = write_yaml(
        tmp_path / "parent.yaml",
        {"epochs": 7, "lr": 0.2, "description": "p", "sweep": {"models": ["resnet32"]}},
    )
    child = write_yaml(tmp_path / "child.yaml", {"extends": parent, "lr": 0.05})
    assert read_config_file(child) == {"epochs": 7, "lr": 0.05}
    loop = tmp_path / "loop.yaml"
    write_yaml(loop, {"extends": str(loop)})
    with pytest.raises(ValueError, match="extends itself"):
        read_config_file(str(loop))


def test_variant_sweep_tables_label_rows_by_variant(small_cifar10, tmp_path, capsys):
    base = {"data": str(small_cifar10), "epochs": 1, "batch_size": 20, "tensorboard": False}
    config = write_yaml(
        tmp_path / "ablation.yaml",
        {
            **base,
            "sweep": {
                "models": ["resnet20"],
                "attention": ["ba2m"],
                "variants": {"tau-2": {"attention_options": {"ba2m": {"tau": 2.0}}}, "plain": {}},
            },
        },
    )
    root = tmp_path / "sweep"  # not results/: dirty code would be refused there
    assert main(["sweep", config, "--root", str(root)]) == 0
    progress = capsys.readouterr().err
    assert "resnet20 + ba2m, seed 0 [tau-2]" in progress and "seed 0 [plain]" in progress
    rows = [line for line in (root / "results.md").read_text().splitlines() if "| ba2m |" in line]
    assert [row.split(" | ")[3] for row in rows] == ["tau-2", "plain"]  # the config's order
    doc = tmp_path / "results-doc.md"
    assert main(["report", str(root), "--out", str(doc)]) == 0
    assert "| tau-2 |" in doc.read_text() and "| plain |" in doc.read_text()
