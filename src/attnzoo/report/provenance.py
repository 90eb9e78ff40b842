"""What the run records say about where a result came from: confounds and missing provenance.

Read from each run's ``summary.json`` alone:

- **Device class and code version** (``machine.gpu`` or ``machine.cpu``; ``machine.code``, the
  commit with ``+dirty`` where the work tree had uncommitted changes). A comparison is
  *confounded* when every run of one side used a device class, or a commit, that no run of the
  other side used: the setting under test is then inseparable from the machine or the code.
- **Provenance** a run should carry and the committed runs lack: the code version, the diff of
  a dirty work tree (:data:`DIFF_FILE` in the run directory), the dataset's identity
  (``data.sha256``) and when the run was planned (``planned``: ``{"at": UTC time, "seeds": n}``,
  the sweep invocation that first scheduled it and the seed count it asked for).
  :func:`missing` names what a run lacks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..run_keys import DIFF_FILE, DIRTY

LACKS = {  # what a run lacks, as "N runs ..." says it
    "code": "record no code version (machine.code)",
    "dirty": f"record a dirty code version and saved no diff ({DIFF_FILE})",
    "data": "record no dataset identity (data.sha256)",
    "plan": "record no plan (planned: when, for how many seeds)",
}


def device(summary: Mapping[str, Any]) -> str:
    machine = summary.get("machine") or {}
    return machine.get("gpu") or machine.get("cpu") or "unknown device"


def commit(summary: Mapping[str, Any]) -> str:
    """The commit a run's code was at, without the ``+dirty`` mark (unknown if unrecorded)."""
    code = (summary.get("machine") or {}).get("code") or "unknown code"
    return code.removesuffix(DIRTY)


def confound(a: Iterable[Mapping[str, Any]], b: Iterable[Mapping[str, Any]]) -> str:
    """What a comparison of runs ``a`` with runs ``b`` is confounded with: "device" and/or
    "code" when the two sides share no device class or no commit; "" when they share both."""
    a, b = list(a), list(b)
    found = [
        name
        for name, key in (("device", device), ("code", commit))
        if not {key(s) for s in a} & {key(s) for s in b}
    ]
    return " and ".join(found)


def missing(summary: Mapping[str, Any]) -> list[str]:
    """The keys of :data:`LACKS` that the run of ``summary`` (from ``read_summaries``, so with
    ``run_dir``) lacks."""
    code = (summary.get("machine") or {}).get("code")
    lacks = []
    if not code:
        lacks.append("code")
    elif code.endswith(DIRTY) and not (Path(summary["run_dir"]) / DIFF_FILE).is_file():
        lacks.append("dirty")
    if not (summary.get("data") or {}).get("sha256"):
        lacks.append("data")
    if "planned" not in summary:
        lacks.append("plan")
    return lacks


def provenance_sentence(summaries: Iterable[Mapping[str, Any]]) -> str:
    """How many of ``summaries`` lack each kind of provenance, as a sentence."""
    summaries = list(summaries)
    counts = Counter(k for s in summaries for k in missing(s))
    if not counts:
        return f"Provenance: all {len(summaries)} runs record it in full."
    parts = "; ".join(f"{counts[k]} {LACKS[k]}" for k in LACKS if counts[k])
    return f"Provenance: of the {len(summaries)} runs read, {parts}."
