"""Where a run came from, written in its directory and copied into its summary.

- **Code.** The summary's ``machine.code`` is the commit the run's code was at, with ``+dirty``
  when the code had uncommitted changes (:func:`attnzoo.machine.code_version`). Such a run saves
  the patch that replays them on that commit in its directory (:data:`~attnzoo.run_keys.DIFF_FILE`;
  a later session with other changes moves the earlier one aside, never over it). A run under a
  ``results/`` directory (results meant to be kept and cited) is refused from dirty code unless the
  config says ``allow_dirty``.
- **Plan.** :data:`PLAN_FILE` holds ``{"at": UTC time, "seeds": n, "by": "sweep" or "train"}``,
  written once, before the run first starts, and kept by every later session, re-plan or resume;
  the summary copies it as ``planned``. A sweep writes it for each run it schedules first: ``at``
  is that invocation's start and ``seeds`` its seed count, so that seeds added by a later
  invocation with more seeds say so. A run started alone by ``attnzoo train`` records its own first
  start, ``seeds`` 1 and ``by`` "train": no sweep planned it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..io import atomic_write, write_json
from ..machine import code_diff
from ..run_keys import DIFF_FILE, DIRTY
from ..validation import AttnzooError
from .config import TrainConfig
from .rundir import move_aside

PLAN_FILE = "plan.json"


def utc_now() -> str:
    """The time now in UTC, ISO 8601 to the second: ``2025-01-31T09:05:00+00:00``."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def is_dirty(code: str | None) -> bool:
    return bool(code) and code.endswith(DIRTY)


def check_code(config: TrainConfig, code: str | None) -> None:
    """Refuse (ValueError, one line) to train ``config`` from the dirty ``code`` version when its
    run directory is under a ``results/`` directory, unless ``config.allow_dirty``."""
    if not is_dirty(code) or config.allow_dirty:
        return
    if "results" in Path(config.out_dir).absolute().parts:
        raise AttnzooError(
            f"refusing to train {config.out_dir}: it is under results/ and the code ({code}) has "
            f"uncommitted changes; commit them, or pass --allow-dirty (allow_dirty=true) to keep "
            f"their diff in the run directory as {DIFF_FILE}"
        )


def save_diff(out_dir: Path, code: str | None, root: Path | None = None) -> None:
    """For a dirty ``code`` version, write the code's diff (:func:`attnzoo.machine.code_diff` of
    the checkout at ``root``) to :data:`DIFF_FILE`, an earlier different one moved aside."""
    if not is_dirty(code):
        return
    diff = code_diff(root)
    if diff is None:  # no checkout here (a copy that carries $ATTNZOO_CODE_VERSION)
        return
    path = out_dir / DIFF_FILE
    if path.is_file():
        if path.read_bytes() == diff:
            return
        move_aside(path)
    atomic_write(path, lambda f: f.write(diff))


def write_plan(out_dir: Path, *, seeds: int, by: str, at: str | None = None) -> None:
    """Write :data:`PLAN_FILE` in ``out_dir`` unless the run already has one: the first plan of
    a run is the one it keeps."""
    path = out_dir / PLAN_FILE
    if not path.is_file():
        write_json(path, {"at": at or utc_now(), "seeds": seeds, "by": by})


def read_plan(out_dir: Path) -> dict[str, Any] | None:
    """The run's plan, or None when it has none."""
    path = out_dir / PLAN_FILE
    return json.loads(path.read_text()) if path.is_file() else None
