"""What the training engine costs on top of the arithmetic: one epoch of ``attnzoo.engine.train``
against a bare loop over the same images.

The trainer runs as ``attnzoo train`` does (one epoch, defaults otherwise): its loader augments each
batch (pad-crop-flip, normalise), and each step adds ``aux_loss``, reads the loss, counts correct
predictions and steps the learning-rate schedule; after the epoch it evaluates, logs and writes a
checkpoint. The bare loop builds the same architecture from the same seed, with the training images
decoded, normalised and shuffled beforehand into one float tensor, and per batch does a forward,
cross-entropy, backward and SGD step (same lr, momentum, weight decay), nothing else.

Two ratios, each the median over interleaved rounds of trainer / bare within a round:

* ``train_ratio``: the trainer's training seconds as its ``metrics.jsonl`` records them (the
  epoch's loop, loader included; evaluation, checkpoint and setup excluded) / the bare epoch.
* ``run_ratio``: the whole ``train()`` call (dataset read from its cache, model build, epoch,
  evaluation, logs, checkpoint) / the bare epoch plus a bare evaluation (forward passes over the
  pre-normalised test images).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data import channel_stats, load_dataset, normalize
from ..engine import TrainConfig, train
from ..markdown import table
from ..models import create_model
from .bench import median_ratio, synchronize


@dataclass
class OverheadResult:
    model: str
    train_images: int
    test_images: int
    batch_size: int
    steps: int
    trainer_train_s: float  # medians over rounds
    bare_train_s: float
    train_ratio: float
    trainer_run_s: float
    bare_run_s: float  # bare epoch + bare evaluation
    run_ratio: float


@dataclass
class _Split:
    images: torch.Tensor  # float32, normalised
    labels: torch.Tensor


def _load(config: TrainConfig, device: torch.device) -> tuple[_Split, _Split, int]:
    """Both splits as the trainer selects them, normalised by the training set's statistics, the
    training images in a random order; and the number of classes."""
    train_set = load_dataset(config.data, "train", max_per_class=config.train_per_class)
    test_set = load_dataset(config.data, "test", max_per_class=config.test_per_class)
    mean, std = channel_stats(train_set.images)
    order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(config.seed))
    splits = [
        _Split(normalize(s.images, mean, std).to(device), s.labels.to(device))
        for s in (train_set.subset(order), test_set)
    ]
    return splits[0], splits[1], train_set.num_classes


def _bare_round(
    config: TrainConfig, train_split: _Split, test_split: _Split, num_classes: int
) -> tuple[float, float]:
    """Seconds of a bare training epoch and of a bare evaluation, from a fresh model."""
    device = train_split.images.device
    torch.manual_seed(config.seed)
    model = create_model(config.model, num_classes, in_chans=train_split.images.shape[1]).to(device)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    model.train()
    images, labels, size = train_split.images, train_split.labels, config.batch_size
    start = time.perf_counter()
    for i in range(0, len(images) - size + 1, size):  # full batches only, as the trainer
        loss = F.cross_entropy(model(images[i : i + size]), labels[i : i + size])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    synchronize(device.type)
    trained = time.perf_counter()
    model.eval()
    with torch.no_grad():
        for images in test_split.images.split(config.eval_batch_size):
            model(images)
    synchronize(device.type)
    return trained - start, time.perf_counter() - trained


def _trainer_round(config: TrainConfig) -> tuple[float, float]:
    """The trainer's recorded training seconds and the wall time of the whole ``train()`` call."""
    with tempfile.TemporaryDirectory(prefix="attnzoo-overhead-") as out_dir:
        config = dataclasses.replace(config, out_dir=out_dir)
        start = time.perf_counter()
        train(config, progress=False)
        wall = time.perf_counter() - start
        record = json.loads((Path(out_dir) / "metrics.jsonl").read_text().splitlines()[-1])
    return record["train"]["seconds"], wall


def run_overhead(
    model: str = "resnet20",
    *,
    data: str = "cifar10-jpeg",
    batch_size: int = 128,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
    seed: int = 0,
    warmup: int = 1,
    repeats: int = 3,
    progress: Callable[[str], None] | None = None,
) -> OverheadResult:
    """Trainer and bare loop, alternating, ``warmup`` untimed rounds then ``repeats`` timed."""
    say = progress or (lambda message: None)
    config = TrainConfig(
        model=model,
        data=data,
        epochs=1,
        batch_size=batch_size,
        seed=seed,
        train_per_class=train_per_class,
        test_per_class=test_per_class,
    )
    # The trainer's default device: CUDA when there is one.
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_split, test_split, num_classes = _load(config, device)
    trainer: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    for round_ in range(warmup + repeats):
        say(f"round {round_ + 1}/{warmup + repeats}{' (warm-up)' if round_ < warmup else ''}")
        t, b = _trainer_round(config), _bare_round(config, train_split, test_split, num_classes)
        if round_ >= warmup:
            trainer.append(t)
            bare.append(b)
    trainer_train, trainer_run = (list(times) for times in zip(*trainer, strict=True))
    bare_train = [epoch for epoch, _ in bare]
    bare_run = [epoch + evaluation for epoch, evaluation in bare]
    return OverheadResult(
        model=model,
        train_images=len(train_split.images),
        test_images=len(test_split.images),
        batch_size=batch_size,
        steps=len(train_split.images) // batch_size,
        trainer_train_s=statistics.median(trainer_train),
        bare_train_s=statistics.median(bare_train),
        train_ratio=median_ratio(trainer_train, bare_train),
        trainer_run_s=statistics.median(trainer_run),
        bare_run_s=statistics.median(bare_run),
        run_ratio=median_ratio(trainer_run, bare_run),
    )


def markdown(results: list[OverheadResult]) -> str:
    head = (
        "model",
        "train images",
        "test images",
        "batch",
        "steps",
        "trainer epoch (s)",
        "bare epoch (s)",
        "train ratio",
        "trainer run (s)",
        "bare epoch + eval (s)",
        "run ratio",
    )
    body = [
        (
            r.model,
            r.train_images,
            r.test_images,
            r.batch_size,
            r.steps,
            f"{r.trainer_train_s:.2f}",
            f"{r.bare_train_s:.2f}",
            f"{r.train_ratio:.3f}",
            f"{r.trainer_run_s:.2f}",
            f"{r.bare_run_s:.2f}",
            f"{r.run_ratio:.3f}",
        )
        for r in results
    ]
    return table(head, body, "l" + "r" * 10)
