"""Per-epoch records: JSON lines always, TensorBoard scalars when asked for (a warning names the
extra to install when tensorboard is missing)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

MISSING = (
    "tensorboard=true but tensorboard is not installed: no event files are written "
    "(pip install 'attnzoo[tensorboard]', or set tensorboard: false)"
)


def _tensorboard_writer(log_dir: Path) -> Any | None:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an extra; asked for, its absence is said once a run
        warnings.warn(MISSING, stacklevel=3)
        return None
    return SummaryWriter(str(log_dir))


class RunLog:
    """``metrics.jsonl`` in the run directory, one record per finished epoch.

    On resume the file is cut back to the epochs the checkpoint holds, so that a run killed after
    logging an epoch but before saving it does not log that epoch twice.
    """

    def __init__(self, out_dir: Path, *, epochs_done: int, tensorboard: bool) -> None:
        self.path = out_dir / "metrics.jsonl"
        self.records: list[dict[str, Any]] = []  # every epoch's record so far, first to last
        kept = []
        if epochs_done and self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    break  # a line cut short by the kill, and nothing after it
                if record.get("epoch", 0) <= epochs_done:
                    kept.append(line + "\n")
                    self.records.append(record)
        self.path.write_text("".join(kept))
        self.writer = _tensorboard_writer(out_dir / "tensorboard") if tensorboard else None

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        self.records.append(record)
        if self.writer is not None:
            epoch = record["epoch"]
            self.writer.add_scalar("lr", record["lr"], epoch)
            for split in ("train", "val", "test"):
                for key, value in record.get(split, {}).items():
                    self.writer.add_scalar(f"{split}/{key}", value, epoch)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def best_epoch(
    records: list[dict[str, Any]], metric: str, higher_is_better: bool
) -> dict[str, Any] | None:
    """The epoch whose validation ``metric`` is best, the earliest of equals, as the summary's
    ``best``: its number and its validation and test metrics. The test metrics never choose the
    epoch: the BA2M paper's "best validation error", without looking at the test set. None when
    the records hold no validation metrics (the run held out no validation split)."""
    scored = [r for r in records if "val" in r]
    if not scored:
        return None
    sign = 1 if higher_is_better else -1
    best = max(scored, key=lambda r: (sign * r["val"][metric], -r["epoch"]))
    return {"epoch": best["epoch"], "metric": metric, "val": best["val"], "test": best["test"]}
