"""The engine's own entry point: train one run from a saved configuration.

``python -m attnzoo.engine.run CONFIG.yaml OUT_DIR`` trains the TrainConfig written in
``CONFIG.yaml`` (every key a TrainConfig field, as :meth:`TrainConfig.to_dict` gives them) into
``OUT_DIR``, without progress bars, and prints the one-line summary. Sweeps start their runs this
way, so that the engine never depends on the command line's flags.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .config import TrainConfig
from .distributed import process_rank


def summary_line(summary: dict[str, Any]) -> str:
    """A finished run in one line: model, attention, final accuracy, size, time and directory."""
    return (
        f"{summary['model']} + {summary['attention']}: final top-1 {summary['top1']:.2f}%  "
        f"top-5 {summary['top5']:.2f}%  params {summary['params'] / 1e6:.3f}M  "
        f"{summary['wall_seconds']:.0f}s -> {summary['config']['out_dir']}"
    )


def run_config_file(path: Path, out_dir: Path) -> dict[str, Any]:
    """Train the configuration saved in ``path`` into ``out_dir`` and return its summary."""
    from .trainer import train

    values = yaml.safe_load(Path(path).read_text())
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of TrainConfig keys to values")
    config = TrainConfig.from_dict({**values, "out_dir": str(out_dir)})
    summary = train(config, progress=False)
    if process_rank() == 0:
        print(summary_line(summary), flush=True)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 2:
        print("usage: python -m attnzoo.engine.run CONFIG.yaml OUT_DIR", file=sys.stderr)
        return 2
    try:
        run_config_file(Path(argv[0]), Path(argv[1]))
    except (ValueError, OSError, FloatingPointError, ImportError) as err:
        print(f"attnzoo.engine.run: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
