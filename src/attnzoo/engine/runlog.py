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
        kept = []
        if epochs_done and self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    break  # a line cut short by the kill, and nothing after it
                if record.get("epoch", 0) <= epochs_done:
                    kept.append(line + "\n")
        self.path.write_text("".join(kept))
        self.writer = _tensorboard_writer(out_dir / "tensorboard") if tensorboard else None

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            epoch = record["epoch"]
            self.writer.add_scalar("lr", record["lr"], epoch)
            for split in ("train", "test"):
                for key, value in record[split].items():
                    self.writer.add_scalar(f"{split}/{key}", value, epoch)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
