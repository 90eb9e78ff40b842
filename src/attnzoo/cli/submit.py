"""``attnzoo submit``: one training run as a Slurm job of N nodes x G GPUs, one task per GPU."""

from __future__ import annotations

import argparse

from .cluster import add_slurm_arguments, slurm_options
from .common import add_config_arguments, config_from_args, say


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "submit", help="submit one (distributed) training run to Slurm through submitit"
    )
    add_config_arguments(parser)
    parser.add_argument("--nodes", type=int, default=1, help="nodes of the job [1]")
    parser.add_argument(
        "--gpus-per-node",
        type=int,
        default=0,
        help="GPUs of each node, one process each; 0: one CPU process per node [0]",
    )
    add_slurm_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine.slurm import submit_training
    from ..engine.task import check_config

    config = config_from_args(args)
    check_config(config)  # before anything is queued
    options = slurm_options(
        args,
        args.config,
        nodes=args.nodes,
        gpus_per_run=args.gpus_per_node,
        tasks_per_node=max(1, args.gpus_per_node),
    )
    job_id = submit_training(config, options)
    say(f"submitted job {job_id}: {args.nodes} node(s) x {options.tasks_per_node} task(s)")
    print(f"{job_id} {config.out_dir}")
    return 0
