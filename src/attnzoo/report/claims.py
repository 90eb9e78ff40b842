"""The papers' claims against the sweeps: families of comparisons, each judged by one rule.

A claims file (YAML, ``docs/claims.yaml``) lists families; a family lists claims, and a claim the
comparisons that test it::

    - family: study
      correction: holm              # or bh: see .multiplicity
      seeds: 3                      # confirmatory seeds 0, 1, 2 of every row, as the sweeps planned
      claims:
        - claim: BA2M improves on the baseline
          source: BA2M, Tables VI and XI
          paper: lower              # the paper's a has the lower top-1 error
          setting: {model: resnet50_cifar, data: cifar100, epochs: null, train_images: 50000}
          compare:
            - a: {sweep: cifar10-resnet20, attention: ba2m}
              b: {sweep: cifar10-resnet20, attention: none}

A side names its sweep (the name of one of the report's sweep directories), its ``attention`` and,
where the sweep has them, its ``variant`` and ``model``; it must match exactly one row. Its
``measure`` (default ``final``) says which test error of each run it reads
(:data:`.tables.MEASURES`): ``final``, the final epoch's; ``best``, the one at the epoch of the
best validation error; ``kept_on``, the final one with BA2M's batch softmax kept on at test time.
A comparison is Welch's (:func:`.stats.welch`) on those top-1 errors of the confirmatory runs:
seed below the family's ``seeds``, and, where a run records it, planned for no more seeds than
that. Runs beyond them are shown in an exploratory comparison, never in a verdict. The
family's p-values are adjusted together, and :func:`.stats.verdict` reads the adjusted one with the
words that the comparison's setting allows: "confirmed"/"contradicted" only at the paper's own
``setting`` (every field known and equal to the run's), "reproduced at this scale"/"not
reproduced at this scale" elsewhere. A comparison listed twice is refused.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..validation import AttnzooError
from .document import Sweep
from .multiplicity import CORRECTIONS, adjust
from .provenance import confound
from .stats import Difference, summarize, verdict, welch
from .tables import Row, remeasured

SIDE_KEYS = frozenset({"sweep", "attention", "variant", "model", "measure"})
FAMILY_KEYS = ("family", "correction", "seeds", "claims")
CLAIM_KEYS = ("claim", "source", "paper", "setting", "compare")
SETTING_KEYS = ("model", "data", "epochs", "train_images")  # what a run's scale is


@dataclass(frozen=True)
class Scale:
    """A comparison's setting against its paper's: the fields that differ (or that the paper does
    not state) and the paper's sample visits (epochs x training images) over ours."""

    differs: tuple[str, ...]
    visits: float | None  # None where the paper's epochs or images are unknown

    @property
    def papers(self) -> bool:
        return not self.differs


@dataclass(frozen=True)
class Comparison:
    """One comparison of a claim, resolved against the sweeps and judged within its family."""

    number: int  # 1-based, in file order
    family: str
    correction: str
    claim: str
    source: str
    paper: str
    a: Row  # the confirmatory runs only
    b: Row
    difference: Difference
    p_adjusted: float | None
    scale: Scale
    confound: str  # "", "device", "code" or "device and code"
    verdict: str
    exploratory: tuple[Row, Row, Difference] | None  # every run, where there are more


def read_claims(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The families of a claims file, each checked for its keys, correction, seeds and claims."""
    families = yaml.safe_load(Path(path).read_text())
    if not isinstance(families, list):
        raise AttnzooError(f"{path}: a claims file is a list of families")
    for i, family in enumerate(families):
        where = f"{path}: family {i + 1}"
        _require(family, FAMILY_KEYS, where)
        if family["correction"] not in CORRECTIONS:
            raise AttnzooError(f"{where}: correction is one of {', '.join(CORRECTIONS)}")
        if not isinstance(family["seeds"], int) or family["seeds"] < 2:
            raise AttnzooError(f"{where}: seeds is the confirmatory seed count, 2 or more")
        for j, claim in enumerate(family["claims"]):
            _require(claim, CLAIM_KEYS, f"{where}, claim {j + 1}")
            if claim["paper"] not in ("lower", "higher"):
                raise AttnzooError(f"{where}, claim {j + 1}: paper is 'lower' or 'higher'")
            _require(claim["setting"], SETTING_KEYS, f"{where}, claim {j + 1}'s setting")
    return families


def _require(entry: Any, keys: Sequence[str], where: str) -> None:
    missing = [k for k in keys if not isinstance(entry, dict) or k not in entry]
    if missing:
        raise AttnzooError(f"{where} has no {', '.join(missing)}")


def find_row(side: Mapping[str, str], sweeps: Mapping[str, Sweep]) -> Row:
    """The one row of ``side``'s sweep with its attention (and variant and model, if given),
    measured as ``side`` says (:func:`.tables.remeasured`)."""
    unknown = set(side) - SIDE_KEYS
    if unknown or "sweep" not in side or "attention" not in side:
        raise AttnzooError(
            f"a side names sweep, attention and optionally variant, model, measure: {side}"
        )
    if side["sweep"] not in sweeps:
        raise AttnzooError(f"no sweep {side['sweep']!r} among {sorted(sweeps)}")
    rows = [
        r
        for r in sweeps[side["sweep"]].rows
        if r.attention == side["attention"]
        and r.setting == side.get("variant", r.setting)
        and r.model == side.get("model", r.model)
    ]
    if len(rows) != 1:
        raise AttnzooError(f"{side} matches {len(rows)} rows, not one")
    summaries = {s["run_dir"]: s for s in sweeps[side["sweep"]].summaries}
    return remeasured(rows[0], summaries, side.get("measure", "final"))


def confirmatory(row: Row, seeds: int, summaries: Mapping[str, Mapping[str, Any]]) -> Row:
    """``row`` restricted to its confirmatory runs: seed below ``seeds`` and, where the run
    records its plan, planned for at most ``seeds`` seeds."""
    keep = [
        seed < seeds and summaries[d].get("planned", {}).get("seeds", seeds) <= seeds
        for d, seed in zip(row.run_dirs, row.seeds, strict=True)
    ]
    if not any(keep):
        raise AttnzooError(f"{row_name(row)} has no confirmatory run (seed below {seeds})")
    if all(keep):
        return row

    def pick(values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(v for v, k in zip(values, keep, strict=True) if k)

    return dataclasses.replace(
        row,
        run_dirs=pick(row.run_dirs),
        seeds=pick(row.seeds),
        primary=summarize(pick(row.primary.values)),
        secondary=None if row.secondary is None else summarize(pick(row.secondary.values)),
    )


def scale(row: Row, paper: Mapping[str, Any], summaries: Mapping[str, Mapping[str, Any]]) -> Scale:
    """``row``'s setting (its first run's model, data, epochs and training images) against the
    paper's ``setting``; a field the paper leaves null counts as differing."""
    run = summaries[row.run_dirs[0]]
    ours = {
        **{k: run["config"][k] for k in ("model", "data", "epochs")},
        "train_images": run["data"]["train_images"],
    }
    differs = tuple(k for k in SETTING_KEYS if paper[k] is None or paper[k] != ours[k])
    visits = None
    if paper["epochs"] is not None and paper["train_images"] is not None:
        visits = paper["epochs"] * paper["train_images"] / (ours["epochs"] * ours["train_images"])
    return Scale(differs, visits)


def row_name(row: Row) -> str:
    """``resnet20 ba2m``, with the variant of an ablation: ``resnet20 ba2m (batch-32)``."""
    return f"{row.model} {row.attention}" + (f" ({row.setting})" if row.setting else "")


def _identity(row: Row) -> tuple[Any, ...]:
    """What a row measured: two rows with equal identities are the same data, whichever sweep
    directory holds them (an ablation's default row copies the main study's runs)."""
    runs = tuple(zip(row.seeds, row.primary.values, strict=True))
    return row.model, row.attention, row.data, runs


def _pairs(families: Sequence[dict[str, Any]], sweeps: Mapping[str, Sweep]) -> list[tuple]:
    """Every comparison of ``families`` as (family, claim, a row, b row), in file order; a
    comparison of the same two rows as an earlier one (in either order) is refused."""
    pairs, seen = [], {}
    for family in families:
        for claim in family["claims"]:
            for pair in claim["compare"]:
                a, b = find_row(pair["a"], sweeps), find_row(pair["b"], sweeps)
                key = frozenset((_identity(a), _identity(b)))
                if key in seen:
                    number, first = seen[key]
                    raise AttnzooError(
                        f"comparison {len(pairs) + 1} ({row_name(a)} vs {row_name(b)}, claim "
                        f"{claim['claim']!r}) repeats comparison {number} (claim {first!r}): "
                        "list it once"
                    )
                seen[key] = (len(pairs) + 1, claim["claim"])
                pairs.append((family, claim, a, b))
    return pairs


def evaluate_claims(
    families: Sequence[dict[str, Any]], sweeps: Sequence[Sweep]
) -> list[Comparison]:
    """Every comparison of ``families`` (from :func:`read_claims`) with its confirmatory
    difference, its family's adjusted p-value and its verdict, and its exploratory difference
    where the rows hold more runs."""
    summaries = {s["run_dir"]: s for sweep in sweeps for s in sweep.summaries}
    pairs = _pairs(families, {sweep.root.name: sweep for sweep in sweeps})
    tested = []
    for family, claim, a_all, b_all in pairs:
        a, b = (confirmatory(r, family["seeds"], summaries) for r in (a_all, b_all))
        extra = None
        if (a, b) != (a_all, b_all):
            extra = (a_all, b_all, welch(a_all.primary.values, b_all.primary.values))
        tested.append((family, claim, a, b, welch(a.primary.values, b.primary.values), extra))
    adjusted: dict[int, float | None] = {}
    for family in families:
        mine = [i for i, t in enumerate(tested) if t[0] is family]
        ps = adjust([tested[i][4].p for i in mine], family["correction"])
        adjusted.update(zip(mine, ps, strict=True))
    out = []
    for i, (family, claim, a, b, d, extra) in enumerate(tested):
        sc = scale(a, claim["setting"], summaries)
        mixed = confound(*([summaries[r] for r in row.run_dirs] for row in (a, b)))
        # A confounded difference may be the machine's or the code's: it supports no verdict.
        said = "confounded" if mixed else verdict(d, claim["paper"], adjusted[i], sc.papers)
        out.append(
            Comparison(
                i + 1,
                family["family"],
                family["correction"],
                claim["claim"],
                claim["source"],
                claim["paper"],
                a,
                b,
                d,
                adjusted[i],
                sc,
                mixed,
                said,
                extra,
            )
        )
    return out
