import sys

import pytest
from PIL import Image
from tests.report.fake_runs import write_run

from attnzoo.report import aggregate, plot_comparison, plot_curves, read_metrics, read_summaries

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path, size):
    assert path.read_bytes().startswith(PNG_MAGIC)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == size


def test_curves_and_comparison_are_pngs(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in range(2):
        write_run(sweep / "se" / f"s{seed}", attention=("se",), seed=seed, top1=70.0 + seed)
    write_run(sweep / "none" / "s0", epochs=1)
    write_run(sweep / "none" / "s1", seed=1, summary=False)  # still training: a curve, no bar

    out = tmp_path / "plots"
    assert plot_curves([sweep], out / "curves.png") == out / "curves.png"
    assert_png(out / "curves.png", (1100, 750))  # 11 x 7.5 inches at 100 dpi

    rows = aggregate(read_summaries([sweep]))
    assert plot_comparison(rows, out / "comparison.png") == out / "comparison.png"
    assert_png(out / "comparison.png", (500, 500))
    with pytest.raises(ValueError, match="no rows to plot"):
        plot_comparison([], out / "empty.png")


def test_bad_metrics_are_named_and_draw_nothing(tmp_path):
    good = write_run(tmp_path / "good")
    bad = write_run(tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match=f"no metrics.jsonl in {tmp_path / 'none'}"):
        read_metrics(tmp_path / "none")
    lines = (bad / "metrics.jsonl").read_text().splitlines()
    (bad / "metrics.jsonl").write_text(lines[0] + "\n" + lines[1][:20] + "\n")
    with pytest.raises(ValueError, match=f"corrupt {bad / 'metrics.jsonl'} line 2"):
        plot_curves([good, bad], tmp_path / "curves.png")
    assert not (tmp_path / "curves.png").exists()
    (bad / "metrics.jsonl").write_text("")
    with pytest.raises(ValueError, match="is empty: no epoch has finished"):
        read_metrics(bad)


def test_missing_matplotlib_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'attnzoo\[plot\]'"):
        plot_curves([write_run(tmp_path / "run")], tmp_path / "curves.png")
