"""The training loop, shared by every task: steps, evaluation every epoch, metrics, checkpoints.

What differs between tasks (data, model, loss, metrics) comes from a :class:`.task.Task`, named
by ``config.task``; the loop knows attention modules only through ``aux_loss`` and ``kept_on``
(the final test pass with the modules switched off at inference kept on): it never names a
module.

A run resumed from its checkpoint (``resume="auto"``) ends bit-identical, on CPU, to the same run
never interrupted: the checkpoint holds the model, optimiser, scheduler, gradient scaler, every
process's RNG state, and the position in the epoch's data order, whose batches the loaders can
restart from in O(1).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..attention import aux_loss
from ..attention.inference import kept_on
from ..attention.spec import spec_name
from ..io import write_json
from ..machine import code_version, describe
from ..models import count_params
from ..validation import AttnzooError
from . import distributed, stop
from .checkpoint import CheckpointError, load_checkpoint, load_latest, save_checkpoint
from .compile import compile_model, step_begin
from .config import TrainConfig, changes_since
from .distributed import World, broadcast_buffers
from .optim import build_optimizer
from .provenance import check_code, read_plan, save_diff, write_plan
from .rundir import CHECKPOINT, claim_run_dir
from .runlog import RunLog, best_epoch
from .schedule import build_scheduler
from .task import Loaders, Task, check_config


@dataclass
class EpochSums:
    """Running sums of the epoch in progress; mid-epoch checkpoints carry them over a restart.

    ``stats`` holds the task's training statistics, each a sum over samples (see Task.loss).
    """

    loss: float = 0.0
    count: int = 0
    seconds: float = 0.0
    stats: dict[str, float] = dataclasses.field(default_factory=dict)

    def add(self, loss: float, count: int, stats: dict[str, float]) -> None:
        self.loss += loss * count
        self.count += count
        for key, value in stats.items():
            self.stats[key] = self.stats.get(key, 0.0) + value

    def means(self) -> dict[str, float]:
        """The mean loss and statistics per sample so far."""
        count = max(self.count, 1)
        return {"loss": self.loss / count, **{k: v / count for k, v in self.stats.items()}}


@dataclass
class Run:
    """Everything one training run steps and saves."""

    config: TrainConfig
    task: Task
    world: World
    loaders: Loaders
    model: nn.Module  # the plain model: its state_dict is what checkpoints hold
    train_model: nn.Module  # what the step calls: the model, maybe in DDP and compiled
    eval_model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    out_dir: Path
    compile_mode: str | None = None  # torch.compile's mode, None when not compiled
    wall_before: float = 0.0  # seconds spent in earlier, interrupted sessions of this run
    started: float = dataclasses.field(default_factory=time.perf_counter)

    def autocast(self) -> torch.autocast:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.config.amp)
        return torch.autocast(self.world.device.type, dtype=dtype, enabled=dtype is not None)

    def prepare(self, batch: Any) -> Any:
        """The batch with its 4-D tensors (images) channels-last, if the config says so."""
        if not self.config.channels_last:
            return batch
        if isinstance(batch, torch.Tensor):
            return batch.contiguous(memory_format=torch.channels_last) if batch.ndim == 4 else batch
        if isinstance(batch, list | tuple):
            return type(batch)(self.prepare(item) for item in batch)
        if isinstance(batch, dict):
            return {key: self.prepare(value) for key, value in batch.items()}
        return batch

    def save(self, epoch: int, step: int, sums: EpochSums, last: dict | None = None) -> None:
        """Checkpoint after ``epoch`` epochs and ``step`` steps of the next; all ranks call it."""
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            # A finite loss can still be followed by an update to inf/NaN: keep the last good one.
            raise FloatingPointError(
                f"non-finite weights at epoch {epoch + (step > 0)}, step {step}; the last good "
                f"checkpoint is kept in {self.out_dir}. Try a lower lr or a warm-up"
            )
        rng = distributed.gather_rng_states(self.world)  # a collective: every rank takes part
        if not self.world.is_main:
            return
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng,
            "epoch": epoch,
            "step": step,
            "sums": dataclasses.asdict(sums),
            "last": last,
            "wall_seconds": self.wall_before + time.perf_counter() - self.started,
            "config": self.config.to_dict(),
            "data": self.loaders.info,
        }
        save_checkpoint(self.out_dir / CHECKPOINT, state)


def train_step(run: Run, batch: Any, sums: EpochSums, where: str) -> None:
    """One optimisation step on ``batch``, its loss and statistics added to ``sums``."""
    with run.autocast():
        output = run.task.forward(run.train_model, run.prepare(batch))
    loss, count, stats = run.task.loss(output, batch, run.config)
    loss = loss + aux_loss(run.model)
    value = loss.item()
    if not math.isfinite(value):
        raise FloatingPointError(
            f"non-finite loss {value} at {where}; the last good checkpoint is kept in "
            f"{run.out_dir}. Try a lower lr or a warm-up"
        )
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.scheduler.step()
    sums.add(value, count, stats)


def train_one_epoch(run: Run, epoch: int, start: int, sums: EpochSums, progress: bool) -> dict:
    config, loader = run.config, run.loaders.train
    run.train_model.train()
    loader.set_epoch(epoch, start)
    began = time.perf_counter() - sums.seconds
    bar = tqdm(
        loader,
        desc=f"epoch {epoch + 1}/{config.epochs}",
        total=len(loader),
        initial=start,
        leave=False,
        disable=not (progress and run.world.is_main),
        unit="batch",
    )
    for step, batch in enumerate(bar, start=start):
        step_begin(run.compile_mode)
        train_step(run, batch, sums, f"epoch {epoch + 1}, step {step + 1}")
        sums.seconds = time.perf_counter() - began
        rate = sums.count * run.world.size / max(sums.seconds, 1e-9)
        bar.set_postfix(
            {k: f"{v:.3f}" for k, v in sums.means().items()} | {"samples_s": f"{rate:.0f}"},
            refresh=False,
        )
        if step + 1 < len(loader) and _stop_requested(run.world):
            run.save(epoch, step + 1, sums)
            raise stop.Stopped(f"stopped on request after epoch {epoch}, step {step + 1}")
        if config.save_every and (step + 1) % config.save_every == 0 and step + 1 < len(loader):
            run.save(epoch, step + 1, sums)
    bar.close()
    names = sorted(sums.stats)
    loss, count, *totals = distributed.all_sum(
        run.world, [sums.loss, sums.count, *(sums.stats[k] for k in names)]
    )
    return {
        "loss": loss / count,
        **{name: total / count for name, total in zip(names, totals, strict=True)},
        "images_per_s": count / max(sums.seconds, 1e-9),
        "seconds": sums.seconds,
    }


def _stop_requested(world: World) -> bool:
    """A stop requested on any rank (see :mod:`.stop`), so that all ranks stop at one step."""
    if not stop.armed():
        return False
    return distributed.all_sum(world, [float(stop.requested())])[0] > 0


def _build_run(config: TrainConfig, task: Task, world: World) -> Run:
    compile_mode = config.compile_mode
    if config.amp == "fp16" and world.device.type != "cuda":
        raise AttnzooError("config: amp='fp16' needs a CUDA device; use amp='bf16' on CPU")
    loaders = task.build_loaders(config, world)
    if config.val_split and loaders.val is None:
        raise AttnzooError(f"config: val_split: the {task.name} task holds out no validation split")
    torch.manual_seed(config.seed)
    model = task.build_model(config, loaders.info)
    if config.sync_bn and world.size > 1:
        model = distributed.sync_batchnorm(model, world.device)
    memory_format = torch.channels_last if config.channels_last else torch.preserve_format
    model = model.to(world.device, memory_format=memory_format)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(
        optimizer,
        schedule=config.schedule,
        steps_per_epoch=len(loaders.train),
        epochs=config.epochs,
        milestones=tuple(config.milestones),
        step_size=config.step_size,
        gamma=config.gamma,
        warmup_epochs=config.warmup_epochs,
    )
    scaler = torch.amp.GradScaler(world.device.type, enabled=config.amp == "fp16")
    train_model = model
    if world.size > 1:
        train_model = DistributedDataParallel(model, device_ids=_device_ids(world))
    eval_model = model
    if config.compile:
        train_model = compile_model(train_model, compile_mode)
        eval_model = compile_model(model, compile_mode)
    return Run(
        config,
        task,
        world,
        loaders,
        model,
        train_model,
        eval_model,
        optimizer,
        scheduler,
        scaler,
        Path(config.out_dir),
        compile_mode if config.compile else None,
    )


def _device_ids(world: World) -> list[int] | None:
    return [world.device.index] if world.device.type == "cuda" else None


def _find_checkpoint(config: TrainConfig) -> tuple[dict[str, Any], Path] | None:
    if config.resume == "auto":
        return load_latest(Path(config.out_dir) / CHECKPOINT)
    if config.resume:
        return load_checkpoint(config.resume), Path(config.resume)
    return None


def _check_resumable(config: TrainConfig, saved: dict[str, Any], path: Path) -> None:
    changed = changes_since(saved, config)
    if changed:
        details = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
        raise AttnzooError(
            f"cannot resume from {path}: the configuration changed ({details}). Start a new run "
            "directory, or set resume to '' to start this one again from scratch"
        )


def _check_same_data(saved: dict[str, Any], info: dict[str, Any], path: Path) -> None:
    """Refuse to resume from ``path`` when the dataset's bytes changed since it was saved (a
    checkpoint written before datasets were identified has no ``sha256`` and is not checked)."""
    before, now = saved.get("sha256"), info.get("sha256")
    if before and before != now:
        raise AttnzooError(
            f"cannot resume from {path}: the dataset changed (sha256 {before[:12]}... -> "
            f"{str(now)[:12]}...); restore the data it was trained on, or start a new run directory"
        )


def _restore(run: Run, state: dict[str, Any], path: Path) -> EpochSums:
    """Load the checkpoint's state into ``run``; return the sums of the epoch it stopped in."""
    try:
        run.model.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        run.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:
            run.scaler.load_state_dict(state["scaler"])
        sums = EpochSums(**state["sums"])
    except (RuntimeError, KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"{path} does not fit this run: {err}") from None
    distributed.set_rng_state(run.world, state["rng"])
    run.wall_before = state["wall_seconds"]
    return sums


def train(config: TrainConfig, *, progress: bool = True, restart: bool = False) -> dict[str, Any]:
    """Train ``config.task`` (classification by default); write metrics, checkpoints, a summary.

    Under torchrun, every process calls this; rank 0 alone writes files. Returns the summary
    written to ``<out_dir>/summary.json``: the final-epoch test metrics, the task's primary
    metric, parameter count, wall time and the full resolved configuration; with ``val_split``,
    the best epoch by the validation metric and its test metrics (``best``); for a network with
    a module switched off at inference, its final test metrics kept on (``kept_on``).

    A run directory that already holds a run is refused (FileExistsError) unless
    ``config.resume`` is ``"auto"`` (continue it) or ``restart`` is True (move it aside to
    ``<out_dir>.old-<time>`` and start over): no run is ever replaced. So is dirty code for a run
    under ``results/`` unless ``config.allow_dirty`` (see :mod:`.provenance`, which also says what
    the summary's ``planned`` and the code diff are).
    """
    task = check_config(config)
    code = code_version()
    check_code(config, code)
    world = distributed.setup(config.device)
    try:
        _claim(config, world, restart, progress)
        return _train(config, task, world, progress, code)
    finally:
        distributed.teardown(world)


def _claim(config: TrainConfig, world: World, restart: bool, progress: bool) -> None:
    """Rank 0 checks (and maybe moves aside) the run directory; every rank learns the outcome."""
    error, note = None, None
    if world.is_main:
        try:
            note = claim_run_dir(Path(config.out_dir), config.resume, restart=restart)
        except (OSError, ValueError) as err:
            error = err
    failed = distributed.all_sum(world, [float(error is not None)])[0]
    if error is not None:
        raise error
    if failed:
        raise RuntimeError(f"rank 0 refused the run directory {config.out_dir}")
    if note and progress:
        tqdm.write(note, file=sys.stderr)


def _train(
    config: TrainConfig, task: Task, world: World, progress: bool, code: str | None
) -> dict[str, Any]:
    found = _find_checkpoint(config)
    if found is not None:
        _check_resumable(config, found[0]["config"], found[1])
    run = _build_run(config, task, world)
    done, start, sums, last = 0, 0, EpochSums(), None
    if found is not None:
        state, path = found
        _check_same_data(state["data"], run.loaders.info, path)
        sums = _restore(run, state, path)
        done, start, last = state["epoch"], state["step"], state["last"]
    if world.is_main:  # the run is built: from here on its directory records it
        run.out_dir.mkdir(parents=True, exist_ok=True)
        write_plan(run.out_dir, seeds=1, by="train")  # unless a sweep planned it
        save_diff(run.out_dir, code)
        log = RunLog(run.out_dir, epochs_done=done, tensorboard=config.tensorboard)
    for epoch in range(done, config.epochs):
        last = _epoch(run, epoch, start, sums, progress)
        if world.is_main:
            log.write({"epoch": epoch + 1, "lr": run.scheduler.get_last_lr()[0], **last})
            if progress:
                tqdm.write(_epoch_line(run, epoch + 1, last))
        start, sums = 0, EpochSums()
        run.save(epoch + 1, 0, sums, last)
        if world.is_main and config.keep_every and (epoch + 1) % config.keep_every == 0:
            # A hard link: the snapshot costs no space until the next save replaces the file.
            snapshot = run.out_dir / f"epoch-{epoch + 1:03d}.safetensors"
            snapshot.unlink(missing_ok=True)
            os.link(run.out_dir / CHECKPOINT, snapshot)
    best = None
    if world.is_main:
        log.close()
        best = best_epoch(log.records, task.primary(config), task.higher_is_better)
    summary = {**_summary(run, last, code), **_protocol(run, best)}
    if world.is_main:
        write_json(run.out_dir / "summary.json", summary)
    return summary


def _epoch(run: Run, epoch: int, start: int, sums: EpochSums, progress: bool) -> dict[str, Any]:
    """Train ``epoch`` from step ``start``; its training, validation (if held out) and test
    metrics. Evaluation draws no random numbers, so a validation split leaves training as it was."""
    stats = {"train": train_one_epoch(run, epoch, start, sums, progress)}
    broadcast_buffers(run.world, run.model)
    if run.loaders.val is not None:
        stats["val"] = run.task.evaluate(run.eval_model, run.loaders.val, run.world)
    stats["test"] = run.task.evaluate(run.eval_model, run.loaders.test, run.world)
    return stats


def _epoch_line(run: Run, epoch: int, stats: dict[str, Any]) -> str:
    metric, train = run.task.primary(run.config), stats["train"]
    val = f"val {metric} {stats['val'][metric]:.2f}  " if "val" in stats else ""
    return (
        f"epoch {epoch}/{run.config.epochs}  train loss {train['loss']:.3f}  {val}"
        f"test {metric} {stats['test'][metric]:.2f}  {train['images_per_s']:.0f} samples/s"
    )


def _protocol(run: Run, best: dict[str, Any] | None) -> dict[str, Any]:
    """The summary's measures beside the final epoch's: ``best`` (rank 0's), the epoch of the best
    validation metric with its validation and test metrics (:func:`.runlog.best_epoch`), and
    ``kept_on``, the final test metrics with every module switched off at inference kept on
    (:func:`attnzoo.attention.inference.kept_on`), over test batches of the training size, in
    the test split's order. Each is absent where it does not apply."""
    out: dict[str, Any] = {} if best is None else {"best": best}
    loader = run.loaders.batched_test
    if loader is None:
        return out
    with kept_on(run.model) as switched:
        if switched:  # every rank has the same modules, so all take part in the collective
            # The plain model: a compiled one need not notice the changed mode (one pass only).
            stats = run.task.evaluate(run.model, loader, run.world)
            out["kept_on"] = {"batch_size": run.config.batch_size, **stats}
    return out


def _summary(run: Run, last: dict[str, Any], code: str | None) -> dict[str, Any]:
    """What ``summary.json`` holds: the final test metrics (the test loss as ``test_loss``), and
    where the run came from: ``machine`` with the ``code`` this session started from, the
    dataset's identity in ``data``, and ``planned`` (see :mod:`.provenance`)."""
    config, task = run.config, run.task
    test = {("test_loss" if k == "loss" else k): v for k, v in last["test"].items()}
    plan = read_plan(run.out_dir) if run.world.is_main else None
    return {
        "task": task.name,
        "model": config.model,
        "attention": spec_name(config.attention),
        "seed": config.seed,
        "epochs": config.epochs,
        **test,
        "train_loss": last["train"]["loss"],
        "primary_metric": task.primary(config),
        "higher_is_better": task.higher_is_better,
        "params": count_params(run.model),
        "world_size": run.world.size,
        "machine": {**describe(), "code": code},
        "wall_seconds": run.wall_before + time.perf_counter() - run.started,
        "data": run.loaders.info,
        **({"planned": plan} if plan else {}),
        "config": config.to_dict(),
    }
