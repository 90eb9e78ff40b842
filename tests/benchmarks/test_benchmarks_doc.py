"""docs/benchmarks.md shows the committed bench outputs as they are: re-running a bench with its
``--out`` and not updating the page fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"

# Every run whose table docs/benchmarks.md shows; the page shows each whole.
SHOWN_WHOLE = (
    "cpu-peers-r50-cifar-b32",
    "cpu-peers-r50-cifar-b16",
    "cpu-peers-aa-sasa-r50-cifar-b8",
    "fast-paths-r50-cifar-b32",
    "fast-paths-ba2m-r50-cifar-b32-quiet",
    "gpu-gsa-56-c256-b32",
    "gpu-r50-cifar-b64",
    "gpu-r50-cifar-b256-bf16-cl",
    "gpu-r50-imagenet-b64-bf16-cl",
    "gsa-56-c256-b32",
    "profile-r50-cifar-b64",
    "profile-r50-imagenet-b16",
    "r50-cifar-b64-after-fold",
    "r50-imagenet-b16",
    "trainer-overhead-r20",
    "trainer-overhead-r20-2threads",
)


@pytest.mark.parametrize("run", SHOWN_WHOLE)
def test_page_shows_the_committed_table(run: str) -> None:
    page = (DOCS / "benchmarks.md").read_text()
    assert f"docs/bench/{run}" in page, f"docs/benchmarks.md does not name docs/bench/{run}"
    table = (DOCS / "bench" / run / "bench.md").read_text().strip()
    assert table in page, f"docs/benchmarks.md's table of {run} differs from its bench.md"
