"""What a number was measured on: the machine and code version recorded beside it."""

import subprocess

from attnzoo import machine


def test_describes_the_checkout_commit():
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    info = machine.describe()
    assert info["torch"] and info["cores"] >= 1 and info["cpu"]
    if head:  # a git checkout (CI clones one); a copy without .git reports None
        assert info["code"].split("+")[0] == head


def test_an_explicit_code_version_wins_over_git(monkeypatch):
    """A copy of the tree sent to another machine may carry stale git metadata."""
    monkeypatch.setenv("ATTNZOO_CODE_VERSION", "abc1234")
    assert machine.code_version() == "abc1234"
    assert machine.describe()["code"] == "abc1234"
