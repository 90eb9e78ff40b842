"""What the engine writes and the report reads, shared by both without either importing the other.

Which of two run configurations is the same run (:func:`config_changes`): ``RESUMABLE_CHANGES``
are the training settings that do not change what a run computes (``compile_mode``: how the same
network is compiled, not what it computes; ``download``: whether a missing dataset may be fetched;
``allow_dirty``: whether uncommitted code may train a run under ``results/``; runs written before
they existed compare equal). The engine lets them change when a run resumes or
a sweep reuses it, and the report lets them differ between the runs of one table row.

And the record a sweep leaves in its root (:data:`SWEEP_FILE`), which the report's sections read,
and the diff of uncommitted code a run saves in its directory (:data:`DIFF_FILE`), whose absence
the report flags.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SWEEP_FILE = "sweep.json"  # a sweep's record: config, description, published, variants, command
DIRTY = "+dirty"  # ends a code version whose code had uncommitted changes (machine.code_version)
DIFF_FILE = "code.diff"  # the patch of a dirty work tree's code on its commit (machine.code_diff)

RESUMABLE_CHANGES = frozenset(
    {
        "resume",
        "save_every",
        "keep_every",
        "workers",
        "tensorboard",
        "out_dir",
        "compile_mode",
        "download",
        "allow_dirty",
    }
)


def config_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, tuple]:
    """The settings of a run's ``saved`` config that ``current`` changes, as ``{key: (saved,
    current)}``, apart from :data:`RESUMABLE_CHANGES`; empty when both are the same run.

    A key only one of them has (a setting added or removed since) reads as None on the other side,
    so that it counts as a change unless its value there is None too.
    """
    keys = sorted((saved.keys() | current.keys()) - RESUMABLE_CHANGES)
    return {k: (saved.get(k), current.get(k)) for k in keys if saved.get(k) != current.get(k)}


def read_sweep_record(root: Path) -> dict[str, Any]:
    """The ``sweep.json`` of the sweep in ``root``, or {} if there is none."""
    path = root / SWEEP_FILE
    return json.loads(path.read_text()) if path.is_file() else {}
