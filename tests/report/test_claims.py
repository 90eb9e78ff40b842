"""Claims judged by one rule: fake sweeps with known errors, and the repository's own claims."""

import json
import re
from pathlib import Path

import pytest
import yaml
from scipy import stats as sps
from tests.report.fake_runs import write_run

from attnzoo.cli.main import main
from attnzoo.report.claims import evaluate_claims, read_claims
from attnzoo.report.document import read_sweep, sweep_section
from attnzoo.report.verdicts import claims_document

REPO = Path(__file__).resolve().parents[2]
BASE = [82.0, 83.0, 81.5]  # accuracies of the baseline's three seeds
# The fake runs' own setting (fake_runs.write_run): a claim made at it may confirm or contradict.
THEIRS = {"model": "resnet20", "data": "cifar10", "epochs": 3, "train_images": 500}
BIGGER = {**THEIRS, "epochs": 30}  # ten times the sample visits


def _sweep(root: Path, accuracies: dict[str, list[float]], machine=None) -> Path:
    for attention, values in accuracies.items():
        for seed, top1 in enumerate(values):
            run = write_run(
                root / "resnet20" / attention / f"s{seed}",
                seed=seed,
                top1=top1,
                attention=() if attention == "none" else (attention,),
            )
            if machine is not None:
                summary = json.loads((run / "summary.json").read_text())
                summary["machine"] = machine(attention, seed)
                (run / "summary.json").write_text(json.dumps(summary))
    return root


def _pair(a: str, b: str = "none") -> dict:
    return {"a": {"sweep": "study", "attention": a}, "b": {"sweep": "study", "attention": b}}


def _side(attention: str, measure: str) -> dict:
    return {"sweep": "study", "attention": attention, "measure": measure}


def _claims(path: Path, pairs, paper="lower", setting=BIGGER, correction="holm") -> Path:
    claim = {
        "claim": "attention improves on the baseline",
        "source": "a paper",
        "paper": paper,
        "setting": setting,
        "compare": pairs,
    }
    family = {"family": "f", "correction": correction, "seeds": 3, "claims": [claim]}
    path.write_text(yaml.safe_dump([family]))
    return path


def _evaluate(tmp_path, accuracies, pairs, **claim):
    root = _sweep(tmp_path / "study", accuracies)
    return evaluate_claims(
        read_claims(_claims(tmp_path / "c.yaml", pairs, **claim)), [read_sweep(root)]
    )


@pytest.mark.parametrize(
    ("accuracies", "paper", "setting", "expected"),
    [
        ([85.0, 86.0, 85.5], "lower", THEIRS, "confirmed"),  # clearly lower error than baseline
        ([85.0, 86.0, 85.5], "higher", THEIRS, "contradicted"),
        ([78.0, 79.0, 77.5], "lower", THEIRS, "contradicted"),
        ([81.0, 84.0, 82.0], "lower", THEIRS, "undecided"),
        ([85.0, 86.0, 85.5], "lower", BIGGER, "reproduced at this scale"),
        ([78.0, 79.0, 77.5], "lower", BIGGER, "not reproduced at this scale"),
        ([78.0, 79.0, 77.5], "lower", {**THEIRS, "epochs": None}, "not reproduced at this scale"),
    ],
)
def test_each_comparison_gets_the_rule_s_verdict(tmp_path, accuracies, paper, setting, expected):
    [c] = _evaluate(
        tmp_path, {"none": BASE, "se": accuracies}, [_pair("se")], paper=paper, setting=setting
    )
    a, b = [100 - v for v in accuracies], [100 - v for v in BASE]
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert (c.difference.low, c.difference.high) == pytest.approx(ref.confidence_interval(0.95))
    assert c.difference.p == pytest.approx(ref.pvalue)
    assert c.p_adjusted == pytest.approx(ref.pvalue)  # a family of one: no correction
    assert c.verdict == expected
    assert c.scale.visits == (None if setting["epochs"] is None else setting["epochs"] / 3)


def _holm_by_hand(ps):
    """Holm (1979) as its paper states it: reject H_(1), H_(2), ... while p_(j) <= alpha /
    (m - j + 1); the adjusted p of H_(i) is the smallest alpha at which it is rejected."""
    m, order = len(ps), sorted(range(len(ps)), key=lambda i: ps[i])
    adjusted = {}
    for rank, i in enumerate(order):
        needed = [(m - j) * ps[order[j]] for j in range(rank + 1)]
        adjusted[i] = min(1.0, max(needed))
    return [adjusted[i] for i in range(m)]


def test_a_family_is_corrected_by_holm_or_benjamini_hochberg(tmp_path):
    accuracies = {
        "none": BASE,
        "se": [85.0, 86.0, 85.5],
        "cbam": [83.0, 84.5, 83.0],
        "bam": [81.0, 84.0, 82.0],
    }
    pairs = [_pair(name) for name in ("se", "cbam", "bam")]
    holm = _evaluate(tmp_path / "h", accuracies, pairs, setting=THEIRS)
    raw = [c.difference.p for c in holm]
    assert [c.p_adjusted for c in holm] == pytest.approx(_holm_by_hand(raw))
    assert [c.verdict for c in holm] == [
        "confirmed" if p < 0.05 else "undecided" for p in _holm_by_hand(raw)
    ]
    bh = _evaluate(tmp_path / "b", accuracies, pairs, setting=THEIRS, correction="bh")
    # Benjamini-Hochberg by hand: p_(i) * m / i, then the running minimum from the largest.
    ranked = sorted(raw)
    steps = [min(1.0, p * 3 / (i + 1)) for i, p in enumerate(ranked)]
    expected = {p: min(steps[i:]) for i, p in enumerate(ranked)}
    assert [c.p_adjusted for c in bh] == pytest.approx([expected[p] for p in raw])
    assert all(h.p_adjusted >= b.p_adjusted for h, b in zip(holm, bh, strict=True))


def test_seeds_beyond_the_confirmatory_ones_never_enter_a_verdict(tmp_path):
    """Optional stopping: three seeds a side undecided, three more seeds added after looking
    would decide; the verdict reads the three planned seeds only, the rest is exploratory."""
    late = [83.0, 86.0, 82.5, 85.0, 85.2, 85.1]
    [c] = _evaluate(
        tmp_path, {"none": [*BASE, 82.0, 82.1, 81.9], "se": late}, [_pair("se")], setting=THEIRS
    )
    assert (c.a.seeds, c.b.seeds) == ((0, 1, 2), (0, 1, 2))
    assert c.verdict == "undecided"
    a, b, everything = c.exploratory
    assert (a.n, b.n) == (6, 6) and everything.p < 0.05  # what optional stopping would report
    text = claims_document(tmp_path / "c.yaml", [tmp_path / "study"])
    table, exploratory = text.split("Exploratory:")
    assert "| undecided |" in table and "confirmed" not in text
    assert "| resnet20 se s3, s4, s5; resnet20 none s3, s4, s5 |" in exploratory


def test_a_run_planned_for_more_seeds_is_exploratory_whatever_its_seed(tmp_path):
    root = _sweep(tmp_path / "study", {"none": BASE, "se": [85.0, 86.0, 85.5]})
    path = root / "resnet20" / "se" / "s2" / "summary.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "planned": {"seeds": 6}}))
    claims = read_claims(_claims(tmp_path / "c.yaml", [_pair("se")]))
    [c] = evaluate_claims(claims, [read_sweep(root)])
    assert c.a.seeds == (0, 1) and c.exploratory[0].seeds == (0, 1, 2)


@pytest.mark.parametrize("swap", [False, True])
def test_a_repeated_comparison_is_refused(tmp_path, capsys, swap):
    root = _sweep(tmp_path / "study", {"none": BASE, "se": BASE, "cbam": BASE})
    again = _pair("none", "se") if swap else _pair("se")
    claims = _claims(tmp_path / "c.yaml", [_pair("se"), _pair("cbam"), again])
    assert main(["report", str(root), "--claims", str(claims)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "comparison 3 (" in err and "repeats comparison 1" in err


def test_a_comparison_across_devices_and_commits_is_confounded(tmp_path):
    def machine(attention, seed):
        gpu = attention == "none"
        return {"gpu": "H200" if gpu else None, "cpu": "EPYC", "code": "aaa" if gpu else "bbb"}

    root = _sweep(tmp_path / "study", {"none": BASE, "se": [85.0, 86.0, 85.5]}, machine)
    claims = read_claims(_claims(tmp_path / "c.yaml", [_pair("se")], setting=THEIRS))
    [c] = evaluate_claims(claims, [read_sweep(root)])
    assert (c.confound, c.verdict) == ("device and code", "confounded")


def test_the_table_and_the_cli(tmp_path, capsys):
    root = _sweep(tmp_path / "study", {"none": BASE, "se": [85.0, 86.0, 85.5]})
    claims = _claims(tmp_path / "c.yaml", [_pair("se")])
    text = claims_document(claims, [root])
    head, _, line, _, counts, _, provenance = text.splitlines()
    assert counts == "1 comparison (family f, Holm): 1 reproduced at this scale."
    assert head.startswith("| # | claim (paper) | a vs b (data) | seeds | setting vs the paper's |")
    assert line.startswith(
        "| 1 | attention improves on the baseline (a paper) | resnet20 se < resnet20 none? cifar10 "
        "| 3 vs 3 | epochs; 1/10 of the visits | -3.33 ["
    )
    assert "| 14.50, 18.00 |" in line  # the medians
    assert line.endswith("|  | reproduced at this scale |")
    assert provenance == (
        "Provenance: of the 6 runs read, 6 record no code version (machine.code); 6 record no "
        "dataset identity (data.sha256); 6 record no plan (planned: when, for how many seeds)."
    )
    assert main(["report", str(root), "--claims", str(claims)]) == 0
    assert capsys.readouterr().out.strip() == text


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"paper": "better"}, "paper is 'lower' or 'higher'"),
        ({"setting": {"model": "resnet20"}}, "setting has no data, epochs, train_images"),
        ({"compare": [{"a": {"sweep": "other", "attention": "se"}, "b": {}}]}, "no sweep 'other'"),
        ({"compare": [_pair("cbam")]}, "matches 0 rows"),
        ({"compare": [{"a": {"sweep": "study", "attn": "se"}, "b": {}}]}, "a side names sweep"),
        ({"compare": [_pair("se") | {"a": _side("se", "kept_on")}]}, "record no 'kept_on'"),
        ({"compare": [_pair("se") | {"a": _side("se", "peak")}]}, "measure 'peak' is unknown"),
    ],
)
def test_bad_claims_are_named(tmp_path, capsys, edit, message):
    root = _sweep(tmp_path / "study", {"none": BASE, "se": BASE})
    path = _claims(tmp_path / "c.yaml", [_pair("se")])
    [family] = yaml.safe_load(path.read_text())
    family["claims"][0].update(edit)
    path.write_text(yaml.safe_dump([family]))
    assert main(["report", str(root), "--claims", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnzoo report: error:") and message in err


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"correction": "bonferroni"}, "correction is one of holm, bh"),
        ({"seeds": 1}, "seeds is the confirmatory seed count"),
    ],
)
def test_bad_families_are_named(tmp_path, edit, message):
    path = _claims(tmp_path / "c.yaml", [_pair("se")])
    path.write_text(yaml.safe_dump([{**yaml.safe_load(path.read_text())[0], **edit}]))
    with pytest.raises(ValueError, match=message):
        read_claims(path)


def _committed():
    roots = sorted(p for p in (REPO / "results").iterdir() if p.is_dir())
    claims = read_claims(REPO / "docs" / "claims.yaml")
    return roots, claims, evaluate_claims(claims, [read_sweep(r) for r in roots])


def test_holm_over_the_committed_results_by_hand():
    """The committed claims' adjusted p-values and verdicts, recomputed by hand from their raw
    p-values; no verdict confirms or contradicts a paper from a setting it did not use."""
    _, claims, comparisons = _committed()
    assert {f["correction"] for f in claims} == {"holm"}
    tested, by_hand = [], []
    for family in claims:  # each family is corrected on its own
        mine = [
            c for c in comparisons if c.family == family["family"] and c.difference.p is not None
        ]
        tested += mine
        by_hand += _holm_by_hand([c.difference.p for c in mine])
    assert len({c.family for c in tested}) == len(claims)
    assert [c.p_adjusted for c in tested] == pytest.approx(by_hand)
    for c, p in zip(tested, by_hand, strict=True):
        if c.confound:
            assert c.verdict == "confounded"
        elif p >= 0.05:
            assert c.verdict == "undecided"
        else:
            assert c.verdict.endswith("at this scale") and not c.scale.papers
            assert c.verdict.startswith("not") == (c.difference.diff > 0)  # every paper: lower


def test_the_committed_claims_plan_the_seeds_their_sweeps_planned():
    """A family's confirmatory seed count is what each sweep config it reads planned
    (``sweep: seeds:``): raising either after the results exist is caught here."""
    roots, claims, comparisons = _committed()
    seeds = {f["family"]: f["seeds"] for f in claims}
    used = {
        (r.run_dirs[0].split("/results/")[-1].split("/")[0], seeds[c.family])
        for c in comparisons
        for r in (c.a, c.b)
    }
    assert used and {name for name, _ in used} <= {r.name for r in roots}
    for name, family_seeds in used:
        config = json.loads((REPO / "results" / name / "sweep.json").read_text())["config"]
        planned = yaml.safe_load((REPO / "src/attnzoo/configs" / f"{config}.yaml").read_text())
        assert planned["sweep"]["seeds"] == family_seeds, name


def test_the_study_s_at_a_glance_report_is_the_generated_one():
    """docs/study.md shows what `attnzoo report results/* --claims docs/claims.yaml` prints from
    the committed runs, between the markers: regenerate it when runs or claims change."""
    roots, _, _ = _committed()
    study = (REPO / "docs" / "study.md").read_text()
    shown = re.search(r"<!-- claims -->\n(.*?)\n<!-- /claims -->", study, re.S)
    assert shown is not None and shown.group(1) == claims_document(
        REPO / "docs" / "claims.yaml", roots
    )


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
    """The README's summary of the study quotes the count line of the claims report."""
    roots, _, _ = _committed()
    text = claims_document(REPO / "docs" / "claims.yaml", roots)
    counts = next(line for line in text.splitlines() if re.match(r"\d+ comparisons? \(", line))
    assert f"**{counts}**" in (REPO / "README.md").read_text()


def test_ba2m_kept_on_at_test_is_compared_with_the_baseline(tmp_path):
    """A side may read each run's test error with BA2M kept on (summary.json's ``kept_on``):
    Welch's comparison of those errors with the baseline's final-epoch ones."""
    final, kept = [80.0, 80.5, 79.5], [82.1, 82.3, 81.8]
    root = tmp_path / "study"
    for seed, (top1, on) in enumerate(zip(final, kept, strict=True)):
        recorded = {"kept_on": {"batch_size": 128, "loss": 0.5, "top1": on, "top5": 99.0}}
        write_run(
            root / "resnet20" / "ba2m" / f"s{seed}",
            seed=seed,
            top1=top1,
            attention=("ba2m",),
            recorded=recorded,
        )
    _sweep(root, {"none": BASE})
    pairs = [_pair("ba2m") | {"a": _side("ba2m", "kept_on")}, _pair("ba2m")]
    kept_on, off = evaluate_claims(
        read_claims(_claims(tmp_path / "c.yaml", pairs)), [read_sweep(root)]
    )
    errors, base = [100 - v for v in kept], [100 - v for v in BASE]
    assert kept_on.a.primary.values == tuple(errors) and kept_on.b.primary.values == tuple(base)
    welch = sps.ttest_ind(errors, base, equal_var=False)
    assert kept_on.difference.p == pytest.approx(welch.pvalue)
    assert kept_on.difference.diff == pytest.approx(sum(errors) / 3 - sum(base) / 3)
    assert off.a.primary.values == tuple(100 - v for v in final)  # the default: final epoch
    text = claims_document(tmp_path / "c.yaml", [root])
    assert "resnet20 ba2m (kept on at test) < resnet20 none?" in text
