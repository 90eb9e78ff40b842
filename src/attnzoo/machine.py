"""What a number was measured on: recorded beside every benchmark and training summary."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from .run_keys import DIRTY


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# The checkout attnzoo runs from (an installed wheel has none: git then fails and the version is
# None), and the part of it that is the code: a sweep's own outputs (results/, tracked) and the
# docs change while runs train, and do not change what a run computes.
SOURCE_ROOT = Path(__file__).resolve().parents[2]
CODE_PATHS = ("src",)


def _git(root: Path, *args: str, check: bool = True) -> bytes:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, timeout=30, check=check
    ).stdout


def code_version(root: Path | None = None) -> str | None:
    """``$ATTNZOO_CODE_VERSION`` if set (a copy of the tree sent to another machine, whose git
    metadata may be stale or absent), else the commit of the checkout at ``root`` (default
    :data:`SOURCE_ROOT`) with "+dirty" (:data:`~attnzoo.run_keys.DIRTY`) when its code
    (:data:`CODE_PATHS`) has uncommitted changes or untracked files that git does not ignore;
    None outside a checkout."""
    if os.environ.get("ATTNZOO_CODE_VERSION"):
        return os.environ["ATTNZOO_CODE_VERSION"]
    root = root or SOURCE_ROOT
    try:
        commit = _git(root, "rev-parse", "--short", "HEAD").decode().strip()
        dirty = _git(root, "status", "--porcelain", "--", *CODE_PATHS).strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + (DIRTY if dirty else "")


def code_diff(root: Path | None = None) -> bytes | None:
    """What the code (:data:`CODE_PATHS`) of the checkout at ``root`` adds to its commit, as a
    patch that ``git apply`` replays on that commit: ``git diff --binary HEAD`` and each
    untracked, not ignored file as a new one. None outside a checkout."""
    root = root or SOURCE_ROOT
    try:
        patch = _git(root, "diff", "--binary", "HEAD", "--", *CODE_PATHS)
        new = _git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", *CODE_PATHS)
        for name in filter(None, new.decode().split("\0")):
            # check=False: --no-index exits 1 when the files differ, as they always do here.
            new_file = ("diff", "--binary", "--no-index", "--", "/dev/null", name)
            patch += _git(root, *new_file, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return patch


def describe() -> dict[str, Any]:
    """CPU model, core and thread counts, GPU if any, torch and python versions, code version."""
    info: dict[str, Any] = {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "code": code_version(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info
