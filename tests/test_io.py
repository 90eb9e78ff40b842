"""Atomic writes: files get the permissions open() would give, not mkstemp's 0600."""

import os

from attnzoo.io import atomic_write


def test_atomic_write_honours_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "f.json", lambda f: f.write(b"{}"))
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644
    assert path.read_bytes() == b"{}" and not list(tmp_path.glob(".f.json*"))
