"""The entry point of one run of a sweep, whatever starts it: a local subprocess or a Slurm job.

A run directory holds the run's ``config.yaml`` (written by :func:`prepare`); ``python -m
attnzoo.engine.launch RUN_DIR`` trains it, resuming from its checkpoint. A run that fails writes
``error.json`` (one line, and whether retrying can help) and exits with :data:`CONFIG_ERROR` when
the configuration or the data is at fault (a retry would fail the same way), 1 on a crash.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from ..io import atomic_write_text, write_json
from .config import TrainConfig

CONFIG_ERROR = 3
ERROR_FILE = "error.json"
# A wrong setting, a missing dataset or an unusable checkpoint: retrying cannot help. A
# FloatingPointError (a diverged run) is no ValueError and stays a crash, retried like one.
NOT_RETRYABLE = (ValueError, FileNotFoundError, ImportError)


def prepare(config: TrainConfig) -> Path:
    """Write the run's configuration into its directory; a previous error record goes."""
    out_dir = Path(config.out_dir)
    # out_dir is given apart from the file: config files may not choose where files are written.
    values = {k: v for k, v in config.to_dict().items() if k != "out_dir"}
    atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(values, sort_keys=False))
    (out_dir / ERROR_FILE).unlink(missing_ok=True)
    return out_dir


def read_run(out_dir: Path) -> TrainConfig:
    values = yaml.safe_load((out_dir / "config.yaml").read_text())
    return TrainConfig.from_dict({**values, "out_dir": str(out_dir)})


def read_error(out_dir: Path) -> dict[str, Any] | None:
    """The run's last failure (``message``, ``retry``), or None."""
    import json

    path = out_dir / ERROR_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run(out_dir: Path, retries: int = 0) -> dict[str, Any]:
    """Train the run in ``out_dir`` in this process, retrying a crash ``retries`` times (each
    retry resumes from the last checkpoint); a configuration or data error is raised at once."""
    from .distributed import launcher_rank
    from .trainer import train

    for attempt in range(retries + 1):
        try:
            return train(read_run(out_dir), progress=False)
        except NOT_RETRYABLE as err:
            _record(out_dir, err, retry=False)
            raise
        except Exception as err:  # a crash: SystemExit (a requeue) is not caught
            _record(out_dir, err, retry=True)
            if attempt == retries or launcher_rank() != 0:
                raise
            print(f"run {out_dir}: {_line(err)}; retrying", file=sys.stderr, flush=True)
    raise AssertionError("unreachable")


def _line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def _record(out_dir: Path, err: BaseException, retry: bool) -> None:
    from .distributed import launcher_rank

    if launcher_rank() == 0:  # one process of a distributed run speaks for it
        write_json(out_dir / ERROR_FILE, {"message": _line(err), "retry": retry})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m attnzoo.engine.launch RUN_DIR", file=sys.stderr)
        return 2
    try:
        run(Path(args[0]))
    except NOT_RETRYABLE as err:
        print(f"attnzoo run: error: {_line(err)}", file=sys.stderr)
        return CONFIG_ERROR
    except Exception as err:
        print(f"attnzoo run: crashed: {_line(err)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
