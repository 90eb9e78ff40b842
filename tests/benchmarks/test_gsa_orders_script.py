"""scripts/ba2m_gsa_orders.py: the baseline and BA2M in both GSA orders, in one run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ba2m_gsa_orders.py"


def test_the_script_measures_both_orders_against_one_baseline():
    argv = [sys.executable, str(SCRIPT), "resnet20", "--input-size", "8", "--batch-size", "2"]
    out = subprocess.run(
        [*argv, "--warmup", "0", "--repeats", "1"], capture_output=True, text=True, check=True
    ).stdout
    rows = [line.split(" | ")[1] for line in out.splitlines() if line.startswith("| resnet20")]
    assert rows == ["none", "ba2m, gsa_impl=sdpa", "ba2m, gsa_impl=folded"]
