import csv
import io
import json
import statistics

import pytest
from scipy import stats as sps
from tests.report.fake_runs import write_run

from attnzoo.report import aggregate, csv_text, markdown, read_summaries
from attnzoo.report.published import ERRORS, PublishedRow, PublishedTable
from attnzoo.report.tables import baseline_errors, versus_baseline

SE_TOP1 = [71.3, 72.9, 70.55]
SE_TOP5 = [90.1, 91.7, 89.25]
SE_WALL = [100.0, 130.0, 110.0]


@pytest.fixture
def sweep(tmp_path):
    """A sweep's layout, <root>/<model>/<attention>/s<seed>: three seeds of SE, one baseline."""
    root = tmp_path / "sweep"
    for seed, (top1, top5, wall) in enumerate(zip(SE_TOP1, SE_TOP5, SE_WALL, strict=True)):
        write_run(
            root / "resnet20" / "se" / f"s{seed}",
            attention=("se",),
            seed=seed,
            top1=top1,
            top5=top5,
            wall_seconds=wall,
            params=290_000,
        )
    write_run(root / "resnet20" / "none" / "s0", top1=82.4, top5=96.3)
    return root


def test_statistics_over_seeds(sweep):
    none, se = aggregate(read_summaries([sweep]))
    assert (se.model, se.attention, se.data, se.setting) == ("resnet20", "se", "cifar10", "")
    assert se.n == 3 and se.seeds == (0, 1, 2) and se.params == 290_000
    assert se.run_dirs == tuple(str(sweep / "resnet20" / "se" / f"s{s}") for s in range(3))
    for stats, accuracies in ((se.primary, SE_TOP1), (se.secondary, SE_TOP5)):
        errors = [100 - a for a in accuracies]
        assert stats.n == 3
        assert stats.median == pytest.approx(statistics.median(errors))
        assert stats.mean == pytest.approx(statistics.mean(errors))
        assert stats.std == pytest.approx(statistics.stdev(errors))  # n - 1
        assert (stats.min, stats.max) == pytest.approx((min(errors), max(errors)))
    assert se.wall_seconds == statistics.median(SE_WALL)
    assert none.n == 1 and none.primary.std is None
    assert none.primary.median == pytest.approx(17.6) and none.secondary.max == pytest.approx(3.7)


def test_a_summary_from_train_is_named_by_its_out_dir(tmp_path):
    run = write_run(tmp_path / "run")
    [row] = aggregate([json.loads((run / "summary.json").read_text())])
    assert row.run_dirs == (str(run),)


def test_runs_that_differ_beyond_the_seed_are_refused_or_split(tmp_path):
    # Copied off another machine: out_dir no longer says where the runs are.
    a = write_run(tmp_path / "a", attention=("se",), out_dir="/gpu/a")
    b = write_run(
        tmp_path / "b",
        attention=("se",),
        seed=1,
        lr=0.05,
        out_dir="/gpu/b",
        attention_options={"se": {"reduction": 8}},
    )
    summaries = read_summaries([a, b])
    with pytest.raises(ValueError) as err:
        aggregate(summaries)
    message = str(err.value)
    assert f"runs {a} and {b} are both resnet20 + se on cifar10" in message
    assert "attention_options.se.reduction (absent vs 8), lr (0.1 vs 0.05)" in message

    rows = aggregate(summaries, split=True)
    assert [r.setting for r in rows] == [
        "attention_options.se.reduction=absent, lr=0.1",
        "attention_options.se.reduction=8, lr=0.05",
    ]
    assert [r.n for r in rows] == [1, 1]


def test_other_datasets_are_other_rows(tmp_path):
    runs = [write_run(tmp_path / d, data=d) for d in ("cifar10", "cifar100")]
    assert [(r.data, r.setting) for r in aggregate(read_summaries(runs))] == [
        ("cifar10", ""),
        ("cifar100", ""),
    ]


def test_unfinished_runs_of_a_sweep_are_left_out_but_named_ones_refused(sweep):
    unfinished = write_run(sweep / "resnet20" / "se" / "s3", seed=3, summary=False)
    assert len(read_summaries([sweep])) == 4
    with pytest.raises(FileNotFoundError, match=f"no summary.json in {unfinished} \\(did the run"):
        read_summaries([unfinished])
    run = sweep / "resnet20" / "none" / "s0"
    assert len(read_summaries([run, run])) == 1  # named twice, counted once


def test_corrupt_summaries(tmp_path):
    run = write_run(tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    del summary["top5"], summary["params"]
    (run / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"summary\.json: no params, top5$"):
        read_summaries([run])
    (run / "summary.json").write_text('{"model": ')
    with pytest.raises(ValueError, match=f"corrupt {run / 'summary.json'}"):
        read_summaries([run])


def test_markdown_and_csv(sweep):
    rows = aggregate(read_summaries([sweep]))
    paper = PublishedRow("+ SE", "resnet20", "se", {}, {"top1_err": 25.0, "top5_err": 7.5})
    published = PublishedTable("t", "T", "classification", ERRORS, (paper,), {})
    errors = sorted(100 - a for a in SE_TOP1)
    median, mean, std = statistics.median(errors), statistics.mean(errors), statistics.stdev(errors)

    header, rule, none, se = markdown(rows, published).splitlines()
    assert header.startswith(
        "| model | attention | data | seeds | top-1 err % mean [95% CI] | median (min-max) |"
    )
    assert header.endswith(
        "| top-1 vs baseline [95% CI] | p (Welch) | detectable (80%) "
        "| paper top-1 err % | ours - paper | paper top-5 err % | ours - paper |"
    )
    assert rule == "|" + "---|" * 16
    low, high = sps.t.interval(0.95, 2, loc=mean, scale=std / 3**0.5)
    assert se.startswith(
        f"| resnet20 | se | cifar10 | 3 | {mean:.2f} [{low:.2f}, {high:.2f}] "
        f"| {median:.2f} ({errors[0]:.2f}-{errors[-1]:.2f}) |"
    )
    top5_median = statistics.median(100 - a for a in SE_TOP5)
    # The baseline has one seed: the difference of the means, no interval, test or power.
    assert se.endswith(
        f"| {mean - 17.6:+.2f} |  |  | 25.00 | {median - 25:+.2f} | 7.50 "
        f"| {top5_median - 7.5:+.2f} |"
    )
    assert none.startswith("| resnet20 | none | cifar10 | 1 | 17.60 | 17.60 (17.60-17.60) | 3.70 |")
    assert none.endswith("| 0.270 | 60 |  |  |  |  |  |  |  |")
    assert "paper" not in markdown(rows)

    table = list(csv.DictReader(io.StringIO(csv_text(rows, published))))
    assert [r["attention"] for r in table] == ["none", "se"]
    assert float(table[1]["top1_err_median"]) == pytest.approx(median, abs=1e-4)
    assert float(table[1]["top1_err_std"]) == pytest.approx(std, abs=1e-4)
    assert float(table[1]["diff_top1_err"]) == pytest.approx(median - 25, abs=1e-4)
    assert (table[1]["n"], table[1]["seeds"], table[1]["params"]) == ("3", "0 1 2", "290000")
    assert table[0]["top1_err_std"] == "" and table[0]["paper_top1_err"] == ""
    assert table[0]["top1_err_mean"] == "17.6"  # 100 - 82.4 is 17.599999999999994
    assert float(table[1]["top1_err_low"]) == pytest.approx(low, abs=1e-4)
    assert float(table[1]["baseline_diff"]) == pytest.approx(mean - 17.6, abs=1e-4)
    assert table[1]["baseline_p"] == "" and table[1]["baseline_n_b"] == "1"
    assert table[0]["baseline_diff"] == ""  # the baseline has none
    assert "paper_top1_err" not in csv_text(rows)


def _seeds(root, attention, accuracies, **config):
    for seed, top1 in enumerate(accuracies):
        write_run(root / f"s{seed}", attention=attention, seed=seed, top1=top1, **config)


def test_every_row_is_compared_with_the_baseline_of_its_config(tmp_path):
    """The baseline is the config without the attention, its options included, wherever it ran;
    copies of its runs in several sweeps count once per seed; another lr is another config."""
    base, ba2m = [82.0, 83.0, 81.5, 82.5], [80.0, 81.0, 79.0]
    _seeds(tmp_path / "main" / "none", (), base)
    _seeds(tmp_path / "main" / "ba2m", ("ba2m",), ba2m)
    _seeds(tmp_path / "copy" / "none", (), base[:2])  # seeds 0-1 again, as an ablation copies them
    _seeds(
        tmp_path / "r8" / "ba2m",
        ("ba2m",),
        [81.0, 82.0],
        attention_options={"ba2m": {"reduction": 8}},
    )
    _seeds(tmp_path / "lr" / "ba2m", ("ba2m",), ba2m, lr=0.05)
    sweeps = ("copy", "main/ba2m", "r8", "lr")
    none, main_ba2m, r8, other_lr = (
        row for name in sweeps for row in aggregate(read_summaries([tmp_path / name]))
    )
    pool = [none, main_ba2m, r8, other_lr]
    assert baseline_errors(none, pool) is None  # the baseline itself has none
    main_none = aggregate(read_summaries([tmp_path / "main" / "none"]))[0]
    pool.append(main_none)
    errors = [100 - a for a in base]
    assert baseline_errors(main_ba2m, pool) == pytest.approx(dict(enumerate(errors)))

    d = versus_baseline(main_ba2m, pool)
    ref = sps.ttest_ind([100 - a for a in ba2m], errors, equal_var=False)
    assert d.p == pytest.approx(ref.pvalue)
    assert (d.low, d.high) == pytest.approx(tuple(ref.confidence_interval(0.95)))
    assert (d.n_a, d.n_b) == (3, 4)
    assert versus_baseline(r8, pool).diff == pytest.approx(18.5 - statistics.fmean(errors))
    assert versus_baseline(other_lr, pool) is None


def _as_task_run(run, mse: float) -> None:
    """Turn a fake classification run into one of a task whose metric is an MSE."""
    path = run / "summary.json"
    summary = json.loads(path.read_text())
    del summary["top1"], summary["top5"]
    summary.update(task="toy", primary_metric="mse", higher_is_better=False, mse=mse)
    summary["config"]["task"] = "toy"
    path.write_text(json.dumps(summary))


def test_another_task_is_tabled_by_its_primary_metric(tmp_path):
    for seed, (none, se) in enumerate([(1.0, 0.5), (1.2, 0.7), (1.1, 0.6)]):
        _as_task_run(write_run(tmp_path / f"none/s{seed}", seed=seed), none)
        _as_task_run(write_run(tmp_path / f"se/s{seed}", attention=("se",), seed=seed), se)
    rows = aggregate(read_summaries([tmp_path]))
    assert {r.metric.label for r in rows} == {"mse"} and all(r.secondary is None for r in rows)
    text = markdown(rows)
    assert "mse mean [95% CI]" in text and "top-1" not in text and "top-5" not in text
    se = next(r for r in rows if r.attention == "se")
    assert se.primary.values == pytest.approx([0.5, 0.7, 0.6])
    assert versus_baseline(se, rows).diff == pytest.approx(-0.5)
    table = list(csv.DictReader(io.StringIO(csv_text(rows))))
    assert float(table[0]["mse_median"]) == pytest.approx(1.1)
    write_run(tmp_path / "cls", seed=0)  # a classification run beside them
    with pytest.raises(ValueError, match="measure different metrics: give the runs of one task"):
        markdown(aggregate(read_summaries([tmp_path]), split=True))


def _best(top1: float, top5: float = 99.0) -> dict:
    """A summary's ``best``: the test metrics at the best validation epoch."""
    test = {"loss": 1.0, "top1": top1, "top5": top5}
    return {"best": {"epoch": 2, "metric": "top1", "val": {"top1": 0.0}, "test": test}}


def test_the_best_epoch_error_is_shown_beside_the_final_one(tmp_path):
    root = tmp_path / "sweep"
    best = [75.0, 76.5, 74.0]
    for seed, top1 in enumerate(best):
        write_run(root / "se" / f"s{seed}", attention=("se",), seed=seed, recorded=_best(top1))
    for seed in range(2):  # these held out no validation split
        write_run(root / "none" / f"s{seed}", seed=seed, top1=80.0 + seed)
    se, none = aggregate(read_summaries([root / "se", root / "none"]))
    assert none.best is None
    errors = [100 - v for v in best]
    assert se.best.values == tuple(errors) and se.best.median == statistics.median(errors)
    assert se.best.low == pytest.approx(
        statistics.mean(errors) - sps.t.ppf(0.975, 2) * statistics.stdev(errors) / 3**0.5
    )
    lines = markdown([se, none]).splitlines()
    head = [c.strip() for c in lines[0].split("|")]
    at = head.index("best-epoch top-1 err % mean [95% CI]")
    assert head[at - 1] == "median (min-max)" and head[at + 1] == "best-epoch median (min-max)"
    se_cells, none_cells = ([c.strip() for c in line.split("|")] for line in lines[2:])
    assert se_cells[at + 1] == "25.00 (23.50-26.00)" and se_cells[at].startswith("24.83 [")
    assert none_cells[at : at + 2] == ["—", "—"]
    rows = list(csv.DictReader(io.StringIO(csv_text([se, none]))))
    assert float(rows[0]["best_epoch_top1_err_median"]) == 25.0
    assert rows[1]["best_epoch_top1_err_median"] == ""
    # No run with a best epoch: no column at all.
    assert "best-epoch" not in markdown([none]).splitlines()[0]
    assert "best_epoch" not in csv_text([none]).splitlines()[0]


def test_a_row_with_one_run_lacking_a_best_epoch_has_none(tmp_path):
    write_run(tmp_path / "s0", attention=("se",), seed=0, recorded=_best(75.0))
    write_run(tmp_path / "s1", attention=("se",), seed=1)
    (se,) = aggregate(read_summaries([tmp_path / "s0", tmp_path / "s1"]))
    assert se.n == 2 and se.best is None
