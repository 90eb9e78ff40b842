"""The Slurm flags shared by ``attnzoo sweep --executor slurm`` and ``attnzoo submit``."""

from __future__ import annotations

import argparse
from typing import Any

# (option of SlurmOptions, type, help); unset flags leave the config's sweep.slurm values.
FLAGS = (
    ("partition", str, "Slurm partition"),
    ("account", str, "Slurm account"),
    ("qos", str, "Slurm quality of service"),
    ("constraint", str, "Slurm node constraint (e.g. a GPU type)"),
    ("time_min", int, "time limit of each job in minutes; a longer run is requeued [1440]"),
    ("cpus_per_run", int, "CPUs of each task [4, or a node's CPUs in the partition if fewer]"),
    ("mem_gb", float, "memory of each node in GB [the partition's default]"),
    ("parallelism", int, "most runs of a sweep running at once [64]"),
    ("signal_delay_s", int, "seconds before the time limit that Slurm warns the job [120]"),
)


def add_slurm_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Slurm (default: the config's sweep.slurm section)")
    for name, kind, help in FLAGS:
        group.add_argument("--" + name.replace("_", "-"), type=kind, help=help)


def slurm_options(args: argparse.Namespace, config: str | None, **extra: Any) -> Any:
    """SlurmOptions from config ``config``'s sweep.slurm section (if any) and the flags."""
    from ..engine.slurm import SlurmOptions

    flags = {name: getattr(args, name) for name, _, _ in FLAGS} | extra
    if config is None:
        return SlurmOptions.from_dict({k: v for k, v in flags.items() if v is not None})
    return SlurmOptions.from_config(config, flags)
