"""The BA2M `eval_mode="batch"` export table of docs/export.md: for each option set, the max abs
difference between the exported file and PyTorch in each format, or the operator ONNX lacks.

    OMP_NUM_THREADS=1 python scripts/export_ba2m_batch.py    # from the clone's root

The networks, their calibration and the check are the export tests' own
(tests/test_export.py: ``calibrated(build("basic", ("ba2m", options)))`` and ``export_diff``), so
the table measures what the tests assert.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the clone's tests package

from tests.test_export import build, calibrated, export_diff

OPTIONS = [{}, {"branches": "lsa+gsa"}, {"branches": "ca"}, {"sar": "spatial"}]
FORMATS = ("onnx", "export", "torchscript")


def cell(model, fmt: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return f"{export_diff(model, Path(tmp), fmt):.1e}"
        except ValueError as err:  # the exporter's one line, naming the missing operator
            missing = re.search(r"aten\.(\w+)", str(err))
            return f"no: `aten::{missing.group(1)}`" if missing else f"no: {err}"


def main() -> None:
    print("| options | ONNX | torch.export | TorchScript |\n|---|---|---|---|")
    for options in OPTIONS:
        model = calibrated(build("basic", ("ba2m", {"eval_mode": "batch", **options})))
        label = ", ".join(["`eval_mode=batch`", *(f"`{k}={v}`" for k, v in options.items())])
        print(f"| {label} | " + " | ".join(cell(model, f) for f in FORMATS) + " |")


if __name__ == "__main__":
    main()
