"""A dataset's identity: the sha256 of the bytes a run reads, recorded in its summary.

A file (an ImageFolder ``.tar.gz``) is identified by the sha256 of its bytes, what ``sha256sum``
prints. A folder (CIFAR's python batches, idx files, an ImageFolder tree) by the sha256 of its
manifest: one ``<relative path> <sha256>`` line per file under it, sorted by path, paths written
with ``/``; every file counts, hidden ones too. That is, in the folder::

    find . -type f | sed 's|^\\./||' | LC_ALL=C sort | while read f; do
        echo "$f $(sha256sum < "$f" | cut -d' ' -f1)"; done | sha256sum

(for names without spaces or newlines, and with Python's sort by code point as C's).

Hashing a large dataset takes a while, so the result is cached under ``$ATTNZOO_CACHE/sha256``
(:func:`~attnzoo.data.places.default_cache_dir`), keyed by the path and every file's
relative path, size and modification time (:func:`stat_digest`): a file rewritten in place with
the same size and time would keep its old identity, as in ``make``.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

from ..io import atomic_write_text
from .places import default_cache_dir

_CHUNK = 1 << 20


def _files(path: Path) -> list[Path]:
    """The files under the folder ``path``, sorted by their relative path as written (``/``)."""
    return sorted((p for p in path.rglob("*") if p.is_file()), key=lambda p: _name(p, path))


def _name(file: Path, root: Path) -> str:
    return file.relative_to(root).as_posix()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def content_sha256(path: Path) -> str:
    """The sha256 of the file ``path``, or of the manifest of the folder ``path`` (see above)."""
    if path.is_file():
        return file_sha256(path)
    manifest = "".join(f"{_name(f, path)} {file_sha256(f)}\n" for f in _files(path))
    return hashlib.sha256(manifest.encode()).hexdigest()


def stat_digest(path: Path) -> str:
    """A sha256 of a folder's relative paths, sizes and modification times: what changes when a
    file under it does, at the cost of a ``stat`` per file."""
    digest = hashlib.sha256()
    for file in _files(path):
        stat = file.stat()
        digest.update(f"{_name(file, path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _cache_key(path: Path) -> str:
    stat = path.stat()
    listing = f"{stat.st_size}\0{stat.st_mtime_ns}" if path.is_file() else stat_digest(path)
    return hashlib.sha256(f"{path.resolve()}\0{listing}".encode()).hexdigest()


def dataset_sha256(path: str | os.PathLike, cache_dir: Path | None = None) -> str:
    """:func:`content_sha256` of ``path``, cached (see the module docstring) under ``cache_dir``
    (default ``$ATTNZOO_CACHE/sha256``); a cache that cannot be written only costs time."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    cache = (cache_dir or default_cache_dir() / "sha256") / _cache_key(path)
    if cache.is_file():
        return cache.read_text().strip()
    value = content_sha256(path)
    try:
        atomic_write_text(cache, value + "\n")
    except OSError as err:
        warnings.warn(f"cannot write dataset identity cache {cache}: {err}", stacklevel=2)
    return value
