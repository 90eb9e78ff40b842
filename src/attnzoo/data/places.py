"""Where built-in datasets live: one documented rule, shared by the lookup and the download.

Looked up in order: ``$ATTNZOO_DATA_DIR``, the per-user data directory
(``$XDG_DATA_HOME/attnzoo``, by default ``~/.local/share/attnzoo``), ``./data``, and the clone's
``data/`` when attnzoo runs from a clone (an installed wheel has none). Downloads go to the first
of the first two that can be written to. What is derived from a dataset (decoded images, its
identity) is cached in ``$ATTNZOO_CACHE``, by default ``~/.cache/attnzoo``.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_data_dir() -> Path:
    """The per-user data directory: ``$XDG_DATA_HOME/attnzoo`` (``~/.local/share/attnzoo``)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "attnzoo"


def default_cache_dir() -> Path:
    """``$ATTNZOO_CACHE``, else ``~/.cache/attnzoo``."""
    return Path(os.environ.get("ATTNZOO_CACHE") or Path.home() / ".cache" / "attnzoo")


def _env_dir() -> list[Path]:
    value = os.environ.get("ATTNZOO_DATA_DIR")
    return [Path(value)] if value else []


def data_dirs() -> list[Path]:
    """The directories searched for a built-in dataset, in order (see the module docstring)."""
    dirs = [*_env_dir(), user_data_dir(), Path("data")]
    clone = Path(__file__).resolve().parents[3] / "data"
    if (clone.parent / "pyproject.toml").is_file():
        dirs.append(clone)
    return dirs


def download_dir() -> Path:
    """Where a download goes: ``$ATTNZOO_DATA_DIR`` if set and writable, else the per-user data
    directory (created when missing). Never ``./data`` or the clone: a download is the user's."""
    candidates = [*_env_dir(), user_data_dir()]
    for directory in candidates:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(directory, os.W_OK | os.X_OK):
            return directory
    raise PermissionError(
        "no writable data directory to download into: "
        + ", ".join(str(d) for d in candidates)
        + " (set ATTNZOO_DATA_DIR to a writable one)"
    )
