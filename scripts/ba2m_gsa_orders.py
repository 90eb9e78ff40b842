"""BA2M's GSA in its two fused orders, side by side in one network (docs/benchmarks.md, s. 2, 9).

    OMP_NUM_THREADS=1 python scripts/ba2m_gsa_orders.py resnet50_cifar --batch-size 32

The baseline, BA2M with ``gsa_impl="sdpa"`` (attention, then the projection) and BA2M with
``gsa_impl="folded"`` (the projection folded into one-channel values), measured interleaved by
:func:`attnzoo.benchmarks.bench.run_bench`: each step ratio is to the baseline of the same round.
The two BA2M rows differ in nothing but the GSA's order of products. ``attnzoo bench`` names its
settings by module only, so it cannot hold two settings of one module that differ in an option;
this script can.
"""

from __future__ import annotations

import argparse
import time

from attnzoo.benchmarks.bench import BenchConfig, markdown, run_bench

ORDERS = ("sdpa", "folded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    configs = [BenchConfig(args.model, (), args.input_size, args.batch_size)]
    for impl in ORDERS:
        setting = (("ba2m", {"gsa_impl": impl}),)
        configs.append(BenchConfig(args.model, setting, args.input_size, args.batch_size))
    results = run_bench(
        configs, warmup=args.warmup, repeats=args.repeats, memory=False, clock=time.perf_counter
    )
    for result, impl in zip(results[1:], ORDERS, strict=True):
        result.attention = f"ba2m, gsa_impl={impl}"
    print(markdown(results))


if __name__ == "__main__":
    main()
