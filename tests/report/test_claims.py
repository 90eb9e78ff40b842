"""Claims judged by one rule: fake sweeps with known errors, and the repository's own claims."""

import re
from pathlib import Path

import pytest
import yaml
from scipy import stats as sps
from tests.report.fake_runs import write_run

from attnzoo.cli.main import main
from attnzoo.report.claims import claims_document, evaluate_claims, read_claims
from attnzoo.report.document import read_sweep, sweep_section

REPO = Path(__file__).resolve().parents[2]
BASE = [82.0, 83.0, 81.5]  # accuracies of the baseline's three seeds


def _sweep(root: Path, accuracies: dict[str, list[float]]) -> Path:
    for attention, values in accuracies.items():
        for seed, top1 in enumerate(values):
            write_run(
                root / "resnet20" / attention / f"s{seed}", seed=seed, top1=top1,
                attention=() if attention == "none" else (attention,),
            )  # fmt: skip
    return root


def _claims(path: Path, attention: str, paper: str = "lower") -> Path:
    claim = {
        "claim": f"{attention} improves on the baseline",
        "source": "a paper",
        "paper": paper,
        "compare": [
            {"a": {"sweep": "study", "attention": attention},
             "b": {"sweep": "study", "attention": "none"}},
        ],
    }  # fmt: skip
    path.write_text(yaml.safe_dump([claim]))
    return path


@pytest.mark.parametrize(
    ("accuracies", "paper", "expected"),
    [
        ([85.0, 86.0, 85.5], "lower", "confirmed"),  # clearly lower error than the baseline
        ([85.0, 86.0, 85.5], "higher", "contradicted"),
        ([78.0, 79.0, 77.5], "lower", "contradicted"),
        ([81.0, 84.0, 82.0], "lower", "undecided"),
    ],
)
def test_each_comparison_gets_the_rule_s_verdict(tmp_path, accuracies, paper, expected):
    root = _sweep(tmp_path / "study", {"none": BASE, "se": accuracies})
    claims = read_claims(_claims(tmp_path / "c.yaml", "se", paper))
    [c] = evaluate_claims(claims, [read_sweep(root)])
    a, b = [100 - v for v in accuracies], [100 - v for v in BASE]
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert (c.difference.low, c.difference.high) == pytest.approx(ref.confidence_interval(0.95))
    assert c.difference.p == pytest.approx(ref.pvalue)
    assert c.verdict == expected


def test_the_table_and_the_cli(tmp_path, capsys):
    root = _sweep(tmp_path / "study", {"none": BASE, "se": [85.0, 86.0, 85.5]})
    claims = _claims(tmp_path / "c.yaml", "se")
    text = claims_document(claims, [root])
    head, _, line, _, counts = text.splitlines()
    assert counts == "1 comparison: 1 confirmed."
    assert head.startswith("| claim (paper) | a vs b (data) | seeds |")
    assert line.startswith(
        "| se improves on the baseline (a paper) | resnet20 se < resnet20 none? cifar10 | 3 vs 3 "
        "| -3.33 ["
    )
    assert line.endswith("| confirmed |")
    assert main(["report", str(root), "--claims", str(claims)]) == 0
    assert capsys.readouterr().out.strip() == text


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"paper": "better"}, "paper is 'lower' or 'higher'"),
        ({"compare": [{"a": {"sweep": "other", "attention": "se"}, "b": {}}]}, "no sweep 'other'"),
        ({"compare": [{"a": {"sweep": "study", "attention": "cbam"},
                       "b": {"sweep": "study", "attention": "none"}}]}, "matches 0 rows"),
        ({"compare": [{"a": {"sweep": "study", "attn": "se"}, "b": {}}]}, "a side names sweep"),
    ],
)  # fmt: skip
def test_bad_claims_are_named(tmp_path, capsys, edit, message):
    root = _sweep(tmp_path / "study", {"none": BASE, "se": BASE})
    path = _claims(tmp_path / "c.yaml", "se")
    path.write_text(yaml.safe_dump([{**yaml.safe_load(path.read_text())[0], **edit}]))
    assert main(["report", str(root), "--claims", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnzoo report: error:") and message in err


def test_the_study_s_at_a_glance_table_is_the_generated_one():
    """docs/study.md shows the table that `attnzoo report results/* --claims docs/claims.yaml`
    renders from the committed runs: regenerate it when runs or claims change."""
    roots = sorted(p for p in (REPO / "results").iterdir() if p.is_dir())
    table = claims_document(REPO / "docs" / "claims.yaml", roots)
    study = (REPO / "docs" / "study.md").read_text()
    shown = re.search(r"^\| claim \(paper\) \|.*?\n\n\d+ comparisons?: [^\n]*", study, re.S | re.M)
    assert shown is not None and shown.group(0) == table


def test_the_study_s_section_tables_are_the_generated_ones():
    """Each table that docs/study.md marks ``<!-- table: SWEEP -->`` is the one `attnzoo report`
    renders for that sweep from the committed runs (the same rows as docs/results.md)."""
    study = (REPO / "docs" / "study.md").read_text()
    marked = re.findall(r"^<!-- table: (\S+) -->\n((?:\|.*\n)+)", study, re.M)
    assert marked, "docs/study.md marks no table"
    roots = [p for p in (REPO / "results").iterdir() if p.is_dir()]
    pool = [row for root in roots for row in read_sweep(root).rows]
    for name, shown in marked:
        generated = sweep_section(read_sweep(REPO / "results" / name), pool)
        table = re.search(r"^\| model \|.*?(?=\n\n|\Z)", generated, re.S | re.M)
        assert table is not None and shown.rstrip("\n") == table.group(0).rstrip("\n"), name


def test_the_readme_quotes_the_generated_verdict_counts():
    """The README's summary of the study quotes the count line the claims report ends with."""
    roots = sorted(p for p in (REPO / "results").iterdir() if p.is_dir())
    counts = claims_document(REPO / "docs" / "claims.yaml", roots).splitlines()[-1]
    assert f"**{counts}**" in (REPO / "README.md").read_text()
