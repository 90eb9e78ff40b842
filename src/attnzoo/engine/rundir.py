"""A run directory is never silently replaced: train continues it, or moves it aside, when asked.

``train`` into a directory that holds a run (a checkpoint, a summary or logged epochs) refuses
unless ``resume="auto"`` continues it or ``restart=True`` renames it to
``<dir>.old-<YYYYmmdd-HHMMSS>`` first. Nothing is ever deleted.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..models.pretrained import CHECKPOINT  # the models layer reads run directories too
from ..validation import AttnzooError

RUN_FILES = (CHECKPOINT, "checkpoint.prev.safetensors", "summary.json", "metrics.jsonl")


def run_files(out_dir: Path) -> list[str]:
    """The files in ``out_dir`` that make it a run (an empty metrics log does not)."""
    return [
        name
        for name in RUN_FILES
        if (out_dir / name).is_file() and (out_dir / name).stat().st_size > 0
    ]


def move_aside(out_dir: Path) -> Path:
    """Rename ``out_dir`` to a free ``<out_dir>.old-<timestamp>`` and return the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, n = out_dir.with_name(f"{out_dir.name}.old-{stamp}"), 1
    while target.exists():
        target, n = out_dir.with_name(f"{out_dir.name}.old-{stamp}-{n}"), n + 1
    os.replace(out_dir, target)
    return target


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().parent == folder.resolve()


def claim_run_dir(out_dir: Path, resume: str, *, restart: bool) -> str | None:
    """Make ``out_dir`` safe to train into; a note for the user, or None.

    Raises FileExistsError naming the directory when it holds a run that neither ``resume``
    continues nor ``restart`` moves aside.
    """
    found = run_files(out_dir)
    if restart:
        if resume:
            raise AttnzooError("restart starts over and resume continues: give one of them")
        if not found:
            return None
        return f"moved the earlier run in {out_dir} aside to {move_aside(out_dir)}"
    if resume == "auto":
        if not any(name.startswith("checkpoint") for name in found):
            return f"resume auto: no checkpoint in {out_dir}, starting a fresh run"
        return None
    if found and not (resume and _inside(Path(resume), out_dir)):
        raise FileExistsError(
            f"{out_dir} already holds a run ({', '.join(found)}): continue it (resume: auto), "
            f"start over (restart: moves it aside to {out_dir}.old-<time>), or choose another "
            "out_dir"
        )
    return None
