"""Downloads of built-in datasets, for real, from an HTTP server this test starts on loopback.

The server serves small archives in the real formats (a CIFAR python-format .tar.gz, gzipped idx
files); the expected checksums are swapped for theirs through ``download.SOURCES``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from tests.data.formats import write_cifar100, write_idx_split
from tests.fixtures import write_cifar10

from attnzoo.cli.main import main
from attnzoo.data import download, load_dataset, read_cifar, read_idx, registry
from attnzoo.data.download import DownloadError


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server = self.server
        name = self.path.lstrip("/")
        server.requests.append(name)
        if name not in server.files:
            self.send_error(404)
            return
        body = server.files[name]
        self.send_response(200)
        # A truncated transfer: announce more than is sent, then close the connection.
        self.send_header("Content-Length", str(len(body) + server.missing.get(name, 0)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch):
    """A loopback HTTP server; ``ATTNZOO_DATA_MIRROR`` points at it."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.missing, httpd.requests = {}, {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ATTNZOO_DATA_MIRROR", f"http://127.0.0.1:{httpd.server_address[1]}/")
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """An empty $ATTNZOO_DATA_DIR (created on download) and an empty per-user directory."""
    monkeypatch.setenv("ATTNZOO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(registry, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-package")
    return tmp_path / "data"


def _tar_gz(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return buffer.getvalue()


def _expect(monkeypatch, name: str, files: dict[str, bytes]) -> None:
    """The checksums ``name``'s download checks: those of ``files`` (by the official names)."""
    source = download.SOURCES[name]
    md5 = tuple((file, hashlib.md5(files[file]).hexdigest()) for file, _ in source.files)
    source = dataclasses.replace(source, files=md5)
    monkeypatch.setitem(download.SOURCES, name, source)


def _serve_cifar10(server, monkeypatch, tmp_path) -> Path:
    folder = write_cifar10(tmp_path / "original", per_batch=3)
    server.files["cifar-10-python.tar.gz"] = _tar_gz(folder)
    _expect(monkeypatch, "cifar10", server.files)
    return folder


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_cifar10_is_fetched_checked_unpacked_and_read(server, data_dir, monkeypatch, tmp_path):
    original = _serve_cifar10(server, monkeypatch, tmp_path)
    test = load_dataset("cifar10", "test")
    expected = read_cifar(original, "test")
    assert test.images.equal(expected.images) and test.labels.equal(expected.labels)
    assert test.classes == tuple(f"class{i}" for i in range(10))
    assert server.requests == ["cifar-10-python.tar.gz"]
    # Only the unpacked folder remains: no archive, no staging folder.
    assert _listing(data_dir) == ["cifar-10-batches-py"]
    assert len(load_dataset("cifar10", "train")) == 15
    assert server.requests == ["cifar-10-python.tar.gz"]  # found, not fetched again


def test_cifar100_goes_to_the_per_user_directory_without_ATTNZOO_DATA_DIR(
    server, data_dir, monkeypatch, tmp_path
):
    monkeypatch.delenv("ATTNZOO_DATA_DIR")
    server.files["cifar-100-python.tar.gz"] = _tar_gz(write_cifar100(tmp_path / "c100", n=8))
    _expect(monkeypatch, "cifar100", server.files)
    coarse = load_dataset("cifar100", "train", label_kind="coarse")
    assert coarse.labels.tolist() == [i % 20 for i in range(8)]
    assert _listing(tmp_path / "share" / "attnzoo") == ["cifar-100-python"]


def test_fashion_mnist_files_are_fetched_into_one_folder(server, data_dir, monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28))
    labels = np.array([9, 0, 3, 3, 1])
    source = tmp_path / "idx"
    for prefix in ("train", "t10k"):
        write_idx_split(source, images, labels, prefix=prefix, suffix=".gz")
    server.files = {p.name: p.read_bytes() for p in sorted(source.iterdir())}
    _expect(monkeypatch, "fashion-mnist", server.files)
    train = load_dataset("fashion-mnist", "train")
    assert train.images.squeeze(1).numpy().tolist() == images.tolist()
    assert train.labels.tolist() == labels.tolist() and train.classes[9] == "Ankle boot"
    assert sorted(server.requests) == sorted(server.files)
    assert _listing(data_dir) == ["fashion-mnist"]
    assert _listing(data_dir / "fashion-mnist") == sorted(server.files)
    assert read_idx(data_dir / "fashion-mnist", "test").labels.tolist() == labels.tolist()


def test_progress_is_shown_on_stderr_when_asked(server, data_dir, monkeypatch, tmp_path, capsys):
    _serve_cifar10(server, monkeypatch, tmp_path)
    assert download.fetch_dataset("cifar10", progress=True) == data_dir / "cifar-10-batches-py"
    captured = capsys.readouterr()
    assert "cifar-10-python.tar.gz" in captured.err and captured.out == ""


def _failure(name: str = "cifar10") -> str:
    with pytest.raises(DownloadError) as caught:
        load_dataset(name, "test")
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_checksum_mismatch_leaves_nothing(server, data_dir, monkeypatch, tmp_path):
    _serve_cifar10(server, monkeypatch, tmp_path)
    archive = server.files["cifar-10-python.tar.gz"]
    server.files["cifar-10-python.tar.gz"] = archive[:-1] + bytes([archive[-1] ^ 1])
    got = hashlib.md5(server.files["cifar-10-python.tar.gz"]).hexdigest()
    url = f"{download.source_url('cifar10', 'cifar-10-python.tar.gz')}"
    assert _failure() == (
        f"cannot download cifar10 from {url}: checksum mismatch: got MD5 {got}, "
        f"expected {hashlib.md5(archive).hexdigest()}"
    )
    assert _listing(data_dir) == []


def test_a_truncated_transfer_leaves_nothing(server, data_dir, monkeypatch, tmp_path):
    _serve_cifar10(server, monkeypatch, tmp_path)
    size = len(server.files["cifar-10-python.tar.gz"])
    server.missing["cifar-10-python.tar.gz"] = 1000
    message = _failure()
    assert message.startswith("cannot download cifar10 from http://127.0.0.1:")
    assert "truncated transfer" in message and f"{size + 1000:,}" in message
    assert _listing(data_dir) == []


def test_a_later_file_failing_removes_the_earlier_ones(server, data_dir, monkeypatch, tmp_path):
    source = tmp_path / "idx"
    for prefix in ("train", "t10k"):
        write_idx_split(source, np.zeros((2, 28, 28)), np.array([1, 2]), prefix, suffix=".gz")
    files = {p.name: p.read_bytes() for p in sorted(source.iterdir())}
    _expect(monkeypatch, "fashion-mnist", files)
    server.files = {n: data for n, data in files.items() if n != "t10k-labels-idx1-ubyte.gz"}
    message = _failure("fashion-mnist")
    assert message.endswith("/t10k-labels-idx1-ubyte.gz: HTTP error 404 Not Found")
    assert len(server.requests) == 4 and _listing(data_dir) == []


def test_a_server_gone_leaves_nothing(server, data_dir, monkeypatch, tmp_path):
    _serve_cifar10(server, monkeypatch, tmp_path)
    server.shutdown()
    server.server_close()  # the port is closed: the connection is refused
    message = _failure()
    assert message.startswith("cannot download cifar10 from http://127.0.0.1:")
    assert "cannot connect" in message and "refused" in message
    assert _listing(data_dir) == []


def test_an_archive_escaping_its_folder_is_refused(server, data_dir, monkeypatch, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    server.files["cifar-10-python.tar.gz"] = buffer.getvalue()
    _expect(monkeypatch, "cifar10", server.files)
    assert "cannot download cifar10" in _failure()
    assert _listing(data_dir) == [] and not list(tmp_path.rglob("escaped.txt"))


def test_without_download_a_missing_dataset_is_an_error_and_nothing_is_fetched(
    server, data_dir, monkeypatch, tmp_path
):
    _serve_cifar10(server, monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError) as caught:
        load_dataset("cifar10", "test", download=False)
    message = str(caught.value)
    assert message.startswith("dataset not found: built-in 'cifar10' is at none of ")
    assert str(data_dir / "cifar-10-batches-py") in message
    assert str(tmp_path / "share" / "attnzoo" / "cifar-10-batches-py") in message
    assert "run without --no-download" in message and "--data PATH" in message
    assert server.requests == [] and _listing(data_dir) == []


def test_cli_no_download_is_one_line_and_fetches_nothing(
    server, data_dir, monkeypatch, tmp_path, capsys
):
    _serve_cifar10(server, monkeypatch, tmp_path)
    argv = [
        "train",
        "--data",
        "cifar10",
        "--no-download",
        "--epochs",
        "1",
        "--quiet",
        "--no-tensorboard",
        "--out-dir",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("attnzoo train: error: dataset not found: built-in 'cifar10'")
    assert "\n" not in err and "run without --no-download" in err
    assert server.requests == [] and _listing(data_dir) == []


def test_cli_downloads_by_default(server, data_dir, monkeypatch, tmp_path, capsys):
    _serve_cifar10(server, monkeypatch, tmp_path)
    argv = [
        "train",
        "--data",
        "cifar10",
        "--epochs",
        "1",
        "--batch-size",
        "10",
        "--quiet",
        "--no-tensorboard",
        "--out-dir",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 0
    assert server.requests == ["cifar-10-python.tar.gz"]
    assert (tmp_path / "run" / "summary.json").is_file()


def test_an_unwritable_ATTNZOO_DATA_DIR_falls_back_to_the_per_user_one(
    server, data_dir, monkeypatch, tmp_path
):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("ATTNZOO_DATA_DIR", str(tmp_path / "a-file" / "data"))  # cannot exist
    _serve_cifar10(server, monkeypatch, tmp_path)
    assert len(load_dataset("cifar10", "test")) == 3
    assert _listing(tmp_path / "share" / "attnzoo") == ["cifar-10-batches-py"]


def test_sweep_and_eval_take_no_download():
    from attnzoo.cli.main import build_parser
    from attnzoo.cli.sweep import _overrides

    parser = build_parser()
    sweep = parser.parse_args(["sweep", "cifar10-smoke", "--no-download", "--set", "epochs=2"])
    assert _overrides(sweep) == {"epochs": 2, "download": False}
    assert "download" not in _overrides(parser.parse_args(["sweep", "cifar10-smoke"]))
    assert parser.parse_args(["eval", "--checkpoint", "c", "--no-download"]).download is False
    assert parser.parse_args(["eval", "--checkpoint", "c"]).download is True
