"""What attention costs in time and memory, as ratios to the baseline measured in the same run.

For each model x attention: the training step (forward, loss with ``aux_loss``, backward, SGD step)
and inference (``attnzoo.deploy``ed, no grad) in images/s, peak memory of a training step,
parameters and training-mode multiply-adds. Configurations are measured interleaved
(baseline, variant 1, variant 2, ..., baseline, ...) after warm-up, and each ratio is the median
over rounds of variant / baseline within a round, so that drift of the machine (thermal, other
load) cancels. A module measured beside a twin, its peer (``peer=True``) or itself with the
library's fast paths off (``fast_paths=False``, attention/_ops.py), is also compared with it: the
median of module / twin within a round, with a distribution-free interval for that median
(:func:`.timing.ratio_interval`) and the verdict it supports, on the twin's row. Time is
wall-clock by default; ``clock=time.process_time`` counts only this process's CPU time, which
at one thread (``OMP_NUM_THREADS=1``) leaves out the time other users' processes hold the cores:
the steadier measure on a shared machine. Memory: CUDA's peak allocation; on CPU the growth of
peak RSS over a training step, measured in a fresh subprocess per configuration
(``python -m attnzoo.benchmarks.memory``), since a process's peak RSS never goes down.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import aux_loss
from ..attention._ops import fast_paths
from ..attention.spec import spec_name
from ..engine.compile import compile_model, step_begin
from ..markdown import table
from ..models import create_model
from .complexity import complexity
from .memory import cuda_peak_mb, subprocess_peak_mb
from .peers import with_peers
from .timing import Clock, RatioInterval, interleaved, median_ratio, ratio_interval, synchronize


@dataclass(frozen=True)
class BenchConfig:
    model: str
    attention: tuple[str, ...]  # () is the baseline
    input_size: int
    batch_size: int
    num_classes: int | None = None
    device: str = "cpu"
    channels_last: bool = False
    amp: bool = False
    compile: bool = False  # torch.compile the training step's model and the deployed model
    # torch.compile's mode when compiling: None (default), "max-autotune-no-cudagraphs",
    # "reduce-overhead" (CUDA graphs), ...
    compile_mode: str | None = None
    peer: bool = False  # the modules replaced by their plain-PyTorch peers (benchmarks/peers.py)
    fast_paths: bool = True  # False: the library's fast paths off (attention/_ops.py)

    @property
    def label(self) -> str:
        twin = " (peer)" if self.peer else "" if self.fast_paths else " (plain)"
        return spec_name(self.attention) + twin


@dataclass
class BenchResult:
    model: str
    attention: str
    batch_size: int
    input_size: int
    params_m: float
    train_gmacs: float
    train_step_ms: float
    train_img_s: float
    infer_img_s: float
    peak_mem_mb: float | None
    train_ratio: float  # step time / baseline's, median over rounds
    infer_ratio: float  # throughput / baseline's
    params_ratio: float
    macs_ratio: float
    mem_ratio: float | None
    # On a twin's row (a peer, or the module with the fast paths off) when its module was
    # measured: the module's step over this row's, the median over rounds, its interval and the
    # interval's coverage (ratio_interval).
    module_ratio: float | None = None
    module_low: float | None = None
    module_high: float | None = None
    module_coverage: float | None = None

    def module_vs_this(self) -> RatioInterval | None:
        if self.module_ratio is None:
            return None
        return RatioInterval(
            self.module_ratio, self.module_low, self.module_high, self.module_coverage
        )


def build(config: BenchConfig) -> nn.Module:
    model = create_model(config.model, config.num_classes, attention=list(config.attention))
    if config.peer:
        model = with_peers(model)
    model = model.to(config.device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def _inputs(config: BenchConfig, model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(config.batch_size, 3, config.input_size, config.input_size, generator=generator)
    y = torch.randint(0, model.num_classes, (config.batch_size,), generator=generator)
    if config.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x.to(config.device), y.to(config.device)


def _autocast(config: BenchConfig):
    if not config.amp:
        return nullcontext()
    return torch.autocast(config.device.split(":")[0], dtype=torch.bfloat16)


def train_step_fn(config: BenchConfig, model: nn.Module) -> Callable[[], None]:
    """One SGD step on a fixed batch, as the trainer does it (aux_loss included)."""
    x, y = _inputs(config, model)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    model.train()
    forward = compile_model(model, config.compile_mode or "default") if config.compile else model
    mode = config.compile_mode if config.compile else None

    def step() -> None:
        step_begin(mode)
        optimizer.zero_grad(set_to_none=True)
        with fast_paths(config.fast_paths), _autocast(config):
            loss = F.cross_entropy(forward(x), y) + aux_loss(model)
        loss.backward()  # the paths are chosen in the forward pass
        optimizer.step()
        synchronize(config.device)

    return step


def infer_fn(config: BenchConfig, model: nn.Module) -> Callable[[], None]:
    from ..deploy import deploy

    deployed = deploy(model)
    if config.compile:
        deployed = compile_model(deployed, config.compile_mode or "default")
    x, _ = _inputs(config, model)
    mode = config.compile_mode if config.compile else None

    def forward() -> None:
        step_begin(mode)
        with torch.no_grad(), fast_paths(config.fast_paths), _autocast(config):
            deployed(x)
        synchronize(config.device)

    return forward


def model_step_fn(config: BenchConfig) -> Callable[[], None]:
    """A training step of ``config``'s model, built from the config alone (what the memory
    subprocess runs)."""
    return train_step_fn(config, build(config))


def peak_memory_mb(config: BenchConfig) -> float:
    """Peak memory of a training step of ``config``, in MiB (see the module docstring)."""
    if config.device.startswith("cuda"):
        return cuda_peak_mb(model_step_fn(config))
    return subprocess_peak_mb(model_step_fn, config, label=config.label)


def run_bench(
    configs: Sequence[BenchConfig],
    *,
    warmup: int = 2,
    repeats: int = 5,
    memory: bool = True,
    clock: Clock = time.perf_counter,
    progress: Callable[[str], None] | None = None,
) -> list[BenchResult]:
    """Benchmark ``configs``; the first is the baseline every ratio refers to."""
    say = progress or (lambda message: None)
    models = [build(c) for c in configs]
    pairs = list(zip(configs, models, strict=True))
    say("training steps")
    train = interleaved([train_step_fn(c, m) for c, m in pairs], warmup, repeats, clock)
    say("inference")
    infer = interleaved([infer_fn(c, m) for c, m in pairs], warmup, repeats, clock)
    costs = [complexity(m.cpu(), c.input_size) for c, m in pairs]
    mems: list[float | None] = []
    for c in configs:
        if memory:
            say(f"memory: {c.label}")
        mems.append(peak_memory_mb(c) if memory else None)
    base = 0
    results = []
    for i, c in enumerate(configs):
        step = statistics.median(train[i])
        results.append(
            BenchResult(
                model=c.model,
                attention=c.label,
                batch_size=c.batch_size,
                input_size=c.input_size,
                params_m=costs[i]["params"] / 1e6,
                train_gmacs=costs[i]["train_macs"] / 1e9,
                train_step_ms=1e3 * step,
                train_img_s=c.batch_size / step,
                infer_img_s=c.batch_size / statistics.median(infer[i]),
                peak_mem_mb=mems[i],
                train_ratio=median_ratio(train[i], train[base]),
                infer_ratio=1 / median_ratio(infer[i], infer[base]),
                params_ratio=costs[i]["params"] / costs[base]["params"],
                macs_ratio=costs[i]["train_macs"] / costs[base]["train_macs"],
                mem_ratio=None if mems[i] is None else mems[i] / mems[base],
            )
        )
    _compare_with_twins(configs, train, results)
    return results


def _compare_with_twins(
    configs: Sequence[BenchConfig], train: list[list[float]], results: list[BenchResult]
) -> None:
    """Set each twin's row's ``module_*`` fields from its module's and its own training steps."""
    for i, c in enumerate(configs):
        module_config = replace(c, peer=False, fast_paths=True)
        if module_config == c:
            continue
        # Found by equality, not hashing: a setting's options may hold unhashable dicts.
        module = next((j for j, d in enumerate(configs) if d == module_config), None)
        if module is not None:
            interval = ratio_interval(train[module], train[i])
            row = results[i]
            row.module_ratio, row.module_low = interval.median, interval.low
            row.module_high, row.module_coverage = interval.high, interval.coverage


def markdown(results: Sequence[BenchResult]) -> str:
    """The results as a Markdown table, ratios to the first (baseline) row."""

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    head = (
        "model",
        "attention",
        "params (M)",
        "train GMACs",
        "step (ms)",
        "train img/s",
        "step ratio",
        "infer img/s",
        "infer ratio",
        "peak mem (MiB)",
        "mem ratio",
        "MACs ratio",
    )
    body = [
        (
            r.model,
            r.attention,
            f"{r.params_m:.2f}",
            f"{r.train_gmacs:.3f}",
            f"{r.train_step_ms:.0f}",
            f"{r.train_img_s:.1f}",
            f"{r.train_ratio:.2f}",
            f"{r.infer_img_s:.1f}",
            f"{r.infer_ratio:.2f}",
            "-" if r.peak_mem_mb is None else f"{r.peak_mem_mb:.0f}",
            ratio(r.mem_ratio),
            f"{r.macs_ratio:.2f}",
        )
        for r in results
    ]
    return table(head, body, "ll" + "r" * 10) + _twin_table(results)


def _twin_table(results: Sequence[BenchResult]) -> str:
    """Module against twin, one row per twin measured beside its module ("" if none was); the
    verdict is the module's."""
    compared = [(r, v) for r in results if (v := r.module_vs_this()) is not None]
    if not compared:
        return ""
    head = ("model", "against", "module's step / this step", "interval", "coverage", "verdict")
    body = [
        (
            r.model,
            r.attention,
            f"{v.median:.3f}",
            f"[{v.low:.3f}, {v.high:.3f}]",
            f"{v.coverage:.1%}",
            v.verdict(),
        )
        for r, v in compared
    ]
    return "\n\n" + table(head, body, "llrrrl")


__all__ = ["BenchConfig", "BenchResult", "markdown", "run_bench"]
