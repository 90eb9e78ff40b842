"""Which of two run configurations is the same run: the one check the engine and the report share.

``RESUMABLE_CHANGES`` are the training settings that do not change what a run computes
(``compile_mode``: how the same network is compiled, not what it computes; ``download``: whether a
missing dataset may be fetched; runs written before they existed compare equal).

A leaf module: the engine lets them change when a run resumes or is reused by a sweep, and the
report lets them differ between the runs of one table row, without either importing the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
