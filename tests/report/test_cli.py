import csv
import sys

import pytest
from tests.report.fake_runs import detection_results, write_run

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


def coco_run(run_dir, attention, epochs=24, **metrics):
    """A Faster R-CNN ResNet-50 run on COCO as the trainer writes it (see detection_results)."""
    return write_run(
        run_dir,
        model="resnet50",
        attention=(attention,) if attention != "none" else (),
        epochs=epochs,
        data="coco",
        task="detection",
        detector="faster_rcnn",
        results=detection_results(**metrics),
    )


def test_compare_detection_runs_with_the_paper(tmp_path, capsys):
    """BA2M Table XIV beside Faster R-CNN runs: box AP, the runs' primary metric, in the table's
    own columns, then each other metric the paper has: ours, the paper's, ours minus it."""
    for attention, ap in (("none", 37.0), ("ba2m", 39.0)):
        coco_run(tmp_path / "coco" / attention, attention, box_ap=ap, box_ap50=60.0)
    coco_run(
        tmp_path / "coco-1x" / "ba2m", "ba2m", epochs=12
    )  # 12 epochs: no row of the paper's 2x
    out = tmp_path / "table.csv"
    argv = ["compare", str(tmp_path / "coco"), "--published", "ba2m-table14", "--csv", str(out)]
    assert main(argv) == 0
    header, _, ba2m, none = capsys.readouterr().out.splitlines()
    assert header.startswith("| model | attention | data | seeds | box_ap mean [95% CI] |")
    assert header.endswith(
        "| paper box_ap | ours - paper | box_ap50 | paper box_ap50 | ours - paper | box_ap75 "
        "| paper box_ap75 | ours - paper | box_ap_s | paper box_ap_s | ours - paper | box_ap_m "
        "| paper box_ap_m | ours - paper | box_ap_l | paper box_ap_l | ours - paper |"
    )
    assert ba2m.startswith("| resnet50 | ba2m | coco | 1 | 39.00 | 39.00 (39.00-39.00) |")
    assert "| +2.00 |" in ba2m  # against our baseline's 37.00
    assert ba2m.endswith(
        "| 38.50 | +0.50 | 60.00 | 60.00 | +0.00 | 12.00 | 41.90 | -29.90 | 13.00 | 22.20 "
        "| -9.20 | 14.00 | 42.10 | -28.10 | 15.00 | 49.80 | -34.80 |"
    )
    assert none.endswith("| 37.60 | -0.60 | 60.00 | 58.90 | +1.10 | 12.00 | 40.90 | -28.90 |" + (
        " 13.00 | 21.80 | -8.80 | 14.00 | 41.50 | -27.50 | 15.00 | 48.80 | -33.80 |"
    ))  # fmt: skip
    rows = list(csv.DictReader(out.open()))
    assert [(r["attention"], r["paper_box_ap"], r["box_ap50_median"]) for r in rows] == [
        ("ba2m", "38.5", "60"),
        ("none", "37.6", "60"),
    ]
    assert main(["compare", str(tmp_path / "coco-1x"), "--published", "ba2m-table14"]) == 0
    blank = "|  |  | " + "".join(f"{10 + i:.2f} |  |  | " for i in range(1, 6))
    assert capsys.readouterr().out.splitlines()[2].endswith(blank.rstrip())  # every paper cell


def test_compare_matches_rows_by_config(tmp_path, capsys):
    """BA2M Table IV's two baselines differ in OHEM, not attention: each run gets its own row; a
    run without the key (written before it existed) counts as ohem: false."""
    voc = {"voc_recall": 91.0, "voc_map07": 80.0, "primary_metric": "voc_map07"}
    for name, ohem in (("plain", {}), ("ohem", {"ohem": True})):
        write_run(
            tmp_path / name, model="resnet50", data="voc", task="detection",
            detector="faster_rcnn", results=detection_results() | voc, **ohem,
        )  # fmt: skip
    assert main(["compare", str(tmp_path), "--published", "ba2m-table4", "--split"]) == 0
    ohem, plain = capsys.readouterr().out.splitlines()[2:]
    assert "| ohem=true |" in ohem and ohem.endswith("| 91.00 | 90.57 | +0.43 | 80.50 | -0.50 |")
    assert "| ohem=absent |" in plain
    assert plain.endswith("| 91.00 | 92.97 | -1.97 | 80.10 | -0.10 |")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            "ba2m-table16",
            "published table ba2m-table16 holds instance-segmentation results (mask_ap, mask_ap50, "
            "mask_ap75, mask_ap_s, mask_ap_m, mask_ap_l): resnet50 + none is a detection run "
            "without mask_ap, mask_ap50,",
        ),
        ("ba2m-table11", "published table ba2m-table11 holds classification results"),
        ("ba2m-table4", "resnet50 + none is a detection run without voc_recall, voc_map07"),
    ],
)
def test_compare_refuses_a_table_of_other_metrics(tmp_path, capsys, table, message):
    coco_run(tmp_path / "run", "none")
    assert main(["compare", str(tmp_path / "run"), "--published", table]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


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
