"""Built-in datasets fetched from their authors' official archives on first use.

CIFAR-10 and CIFAR-100 come from Krizhevsky's page (the python-format ``.tar.gz``), Fashion-MNIST
from Zalando's mirror (four gzipped idx files); each file is checked against the MD5 checksum that
torchvision publishes for it. They go to :func:`attnzoo.data.places.download_dir`:
``$ATTNZOO_DATA_DIR`` when it is set and writable, else the per-user data directory
(``$XDG_DATA_HOME/attnzoo``, ``~/.local/share/attnzoo`` by default), where the lookup finds them.

``$ATTNZOO_DATA_MIRROR``, a base URL (``https://...``, ``http://...`` or ``file:///...``) under
which the files lie by their names, replaces every official base URL: a local mirror, a proxy, or
a test's server.

Nothing half-written remains: the files are fetched and unpacked in a hidden staging folder inside
the data directory, which is removed whatever happens; only a dataset whose every file has its
checksum is renamed into place (a rename within one directory, so a reader sees all or nothing).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .places import download_dir

MIRROR_ENV = "ATTNZOO_DATA_MIRROR"
TIMEOUT_S = 60  # per blocking network operation, not for the whole transfer
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Source:
    """Where a built-in dataset comes from and what it leaves in the data directory."""

    base: str  # the official base URL
    files: tuple[tuple[str, str], ...]  # (file name, MD5)
    folder: str  # the folder it becomes in the data directory
    archive: bool  # a .tar.gz holding ``folder``; else plain files put into ``folder``


# The URLs and checksums of torchvision.datasets.CIFAR10, CIFAR100 and FashionMNIST.
SOURCES: dict[str, Source] = {
    "cifar10": Source(
        "https://www.cs.toronto.edu/~kriz/",
        (("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        "cifar-10-batches-py",
        archive=True,
    ),
    "cifar100": Source(
        "https://www.cs.toronto.edu/~kriz/",
        (("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),),
        "cifar-100-python",
        archive=True,
    ),
    "fashion-mnist": Source(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        (
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
        "fashion-mnist",
        archive=False,
    ),
}


class DownloadError(OSError):
    """A download that failed; its message names the dataset, the URL and the problem."""


class _Problem(Exception):
    """What went wrong with one file, before the dataset and URL are added to it."""


def source_url(name: str, file: str) -> str:
    """The URL of one of ``name``'s files: under ``$ATTNZOO_DATA_MIRROR`` if set."""
    base = os.environ.get(MIRROR_ENV) or SOURCES[name].base
    return base.rstrip("/") + "/" + file


def _progress_bar(total: int | None, label: str, show: bool) -> Any:
    """A tqdm bar of bytes on stderr, disabled (a no-op) unless ``show``."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=label,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        leave=False,
        file=sys.stderr,
        disable=not show,
    )


def _copy(response: BinaryIO, out: BinaryIO, digest: Any, bar: Any) -> int:
    received = 0
    while chunk := response.read(_CHUNK):
        out.write(chunk)
        digest.update(chunk)
        received += len(chunk)
        bar.update(len(chunk))
    return received


def _fetch_file(url: str, dest: Path, md5: str, show: bool) -> None:
    """``url`` into ``dest``, its length and MD5 checked; a ``_Problem`` says what went wrong."""
    digest = hashlib.md5(usedforsecurity=False)  # a checksum against corruption, not security
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, dest.open("wb") as out:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            with _progress_bar(expected, dest.name, show) as bar:
                received = _copy(response, out, digest, bar)
    except urllib.error.HTTPError as err:
        raise _Problem(f"HTTP error {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise _Problem(f"cannot connect: {err.reason}") from None
    except http.client.IncompleteRead as err:
        raise _Problem(f"truncated transfer: {err!r}") from None
    except (OSError, http.client.HTTPException) as err:
        raise _Problem(f"{type(err).__name__}: {err}") from None
    if expected is not None and received != expected:
        raise _Problem(f"truncated transfer: received {received:,} of {expected:,} bytes")
    if digest.hexdigest() != md5:
        raise _Problem(f"checksum mismatch: got MD5 {digest.hexdigest()}, expected {md5}")


def _unpack(archive: Path, into: Path) -> None:
    """Extract a .tar.gz into ``into``, refusing links, devices and paths that leave it."""
    with tarfile.open(archive, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.12, and 3.10.12 / 3.11.4 onwards
            tar.extractall(into, filter="data")
            return
        root = into.resolve()
        for member in tar.getmembers():
            target = (into / member.name).resolve()
            if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
                raise tarfile.TarError(f"refusing archive member {member.name!r}")
        tar.extractall(into)  # every member checked above


def _stage(name: str, source: Source, staging: Path, show: bool) -> Path:
    """Every file of ``source`` fetched (and unpacked) under ``staging``: the finished folder."""
    folder = staging / source.folder
    if not source.archive:
        folder.mkdir()
    for file, md5 in source.files:
        url = source_url(name, file)
        dest = staging / file if source.archive else folder / file
        try:
            _fetch_file(url, dest, md5, show)
            if source.archive:
                _unpack(dest, staging)
        except (_Problem, tarfile.TarError, EOFError) as err:
            raise DownloadError(f"cannot download {name} from {url}: {err}") from None
    if not folder.is_dir():
        raise DownloadError(f"{name}: {source.files[0][0]} holds no {source.folder}/ folder")
    return folder


def fetch_dataset(name: str, *, progress: bool | None = None) -> Path:
    """Download the built-in dataset ``name`` (a key of :data:`SOURCES`) and return its folder.

    ``progress`` shows a progress bar on stderr (default: when stderr is a terminal). Raises
    :class:`DownloadError` (an ``OSError``) with one line naming the dataset, the URL and the
    problem: an HTTP error, a refused connection, a truncated transfer or a checksum mismatch.
    """
    source = SOURCES[name]
    show = sys.stderr.isatty() if progress is None else progress
    root = download_dir()
    target = root / source.folder
    staging = Path(tempfile.mkdtemp(prefix=f".{source.folder}.", suffix=".partial", dir=root))
    try:
        folder = _stage(name, source, staging, show)
        try:
            folder.rename(target)
        except OSError:
            if not target.is_dir():  # else another process finished the same download first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
