import csv
import sys

import pytest
from tests.report.fake_runs import write_run

from attnzoo.cli.main import main


@pytest.fixture
def sweep(tmp_path):
    """BA2M Table XI's ResNet-50 baseline and BAM rows, two seeds each, on CIFAR-100."""
    root = tmp_path / "sweep"
    for attention, top1 in (("none", 78.0), ("bam", 80.0)):
        for seed in range(2):
            write_run(
                root / "resnet50_cifar" / attention / f"s{seed}",
                model="resnet50_cifar",
                attention=() if attention == "none" else (attention,),
                seed=seed,
                top1=top1 + seed,
                data="cifar100",
            )
    return root


def test_compare_a_sweep_with_the_paper(sweep, tmp_path, capsys):
    out = tmp_path / "table.csv"
    assert main(["compare", str(sweep), "--csv", str(out), "--published", "ba2m-table11"]) == 0
    table = capsys.readouterr().out.splitlines()
    # Medians 19.50 (bam) and 21.50 (none) against the paper's 20.00 and 21.49.
    assert table[2].startswith("| resnet50_cifar | bam | cifar100 | 2 | 19.50 [")
    assert "| 19.50 (19.00-20.00) |" in table[2] and "| 21.50 (21.00-22.00) |" in table[3]
    assert "| -2.00 [" in table[2]  # bam against the baseline: 19.5 - 21.5
    assert table[2].endswith("| 20.00 | -0.50 |  |  |")
    assert table[3].endswith("| 21.49 | +0.01 |  |  |")
    rows = list(csv.DictReader(out.open()))
    assert [(r["attention"], r["n"], r["paper_top1_err"]) for r in rows] == [
        ("bam", "2", "20"),
        ("none", "2", "21.49"),
    ]


def test_compare_refuses_mixed_settings_unless_split(sweep, capsys):
    other = write_run(
        sweep / "lr" / "s0", model="resnet50_cifar", attention=("bam",), lr=0.05, data="cifar100"
    )
    assert main(["compare", str(sweep)]) == 2
    err = capsys.readouterr().err
    assert f"runs {other} and {sweep / 'resnet50_cifar' / 'bam' / 's0'} are both" in err
    assert "resnet50_cifar + bam on cifar100 but their configs differ in lr (0.05 vs 0.1)" in err
    assert main(["compare", str(sweep), "--split"]) == 0
    assert "| setting |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--published", "Table 99"], "unknown published table 'Table 99'"),
        (["/no/such/run"], "no summary.json in /no/such/run"),
    ],
)
def test_compare_errors(sweep, argv, message, capsys):
    assert main(["compare", str(sweep), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_plot(sweep, tmp_path, capsys):
    out = tmp_path / "plots"
    assert main(["plot", str(sweep), "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / "curves.png"), str(out / "comparison.png")]
    assert all((out / name).stat().st_size > 0 for name in ("curves.png", "comparison.png"))


def test_plot_names_a_run_without_metrics(sweep, tmp_path, capsys):
    run = sweep / "resnet50_cifar" / "bam" / "s1"
    (run / "metrics.jsonl").unlink()
    out = tmp_path / "plots"
    assert (
        main(["plot", str(sweep / "resnet50_cifar" / "bam" / "s0"), str(run), "--out", str(out)])
        == 2
    )
    assert f"attnzoo plot: error: no metrics.jsonl in {run}" in capsys.readouterr().err
    assert not out.exists()


def test_plot_without_matplotlib(sweep, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main(["plot", str(sweep), "--out", str(tmp_path / "plots")]) == 2
    assert "attnzoo plot: error: plotting needs matplotlib" in capsys.readouterr().err
