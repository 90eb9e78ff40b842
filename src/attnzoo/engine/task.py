"""What a training task is to the engine: the few things that differ between tasks.

The loop in :mod:`.trainer` (steps, checkpoints and kill -9 resume, DDP, AMP, channels_last,
compile, preemption, run directories, logs, sweeps) is shared. A task supplies the rest:

- ``build_loaders(config, world)``: the training and test loaders, optionally a validation
  loader held out of the training set (``config.val_split``) and the test split in training-sized
  batches, and what a checkpoint must remember about the data (``info``: classes, channel
  statistics, ...);
- ``build_model(config, info)``: the network, from the config and that ``info`` (a checkpoint
  rebuilds its model with the same call);
- ``forward(model, batch)``: the model's output for a batch, run under the loop's autocast;
- ``loss(output, batch, config)``: the training loss, the number of samples in the batch, and the
  batch's sums of the training statistics to report (each reported as its mean per sample);
- ``evaluate(model, loader, world)``: named metrics over a loader, summed over processes;
- optionally ``eval_loader``: another split or dataset for ``attnzoo eval``;
- ``primary_metric`` and ``higher_is_better``: the metric that compares runs; a task whose
  metric depends on the data (detection: COCO's AP or VOC's mAP) overrides ``primary(config)``.

Loaders yield batches and have ``len()`` and ``set_epoch(epoch, start=0)``, which must make the
epoch's batches from ``start`` on a function of (seed, epoch, position): that is what lets a run
resume mid-epoch bit-identically. A task registers itself by name with :func:`register_task`; a
config names it in ``task``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from ..validation import AttnzooError
from .config import TrainConfig
from .distributed import World


class Loader(Iterable, Sized, Protocol):
    def set_epoch(self, epoch: int, start: int = 0) -> None: ...


@dataclass
class Loaders:
    train: Loader
    test: Loader
    # What a checkpoint needs to rebuild and evaluate the model: classes, channel statistics.
    info: dict[str, Any]
    # Training images held out (config.val_split), evaluated each epoch to choose the best one.
    val: Loader | None = None
    # The test split in batches of the training size: what a module kept on at test time, whose
    # output depends on the batch (BA2M's batch softmax), is evaluated on; None: not measured.
    batched_test: Loader | None = None


class Task(ABC):
    """One kind of training: its data, model, loss and metrics (see the module docstring)."""

    name: str
    primary_metric: str
    higher_is_better: bool = True

    def primary(self, config: TrainConfig) -> str:
        """The metric that compares runs of ``config`` (the one ``summary.json`` names)."""
        return self.primary_metric

    def check(self, config: TrainConfig) -> None:  # noqa: B027  (optional: no check by default)
        """Raise a ValueError naming a setting this task cannot run with."""

    @abstractmethod
    def build_loaders(self, config: TrainConfig, world: World) -> Loaders: ...

    @abstractmethod
    def build_model(self, config: TrainConfig, info: dict[str, Any]) -> nn.Module: ...

    def forward(self, model: nn.Module, batch: Any) -> Any:
        """The model's output for ``batch``: by default ``model(inputs)`` of (inputs, targets)."""
        return model(batch[0])

    @abstractmethod
    def loss(
        self, output: Any, batch: Any, config: TrainConfig
    ) -> tuple[torch.Tensor, int, dict[str, float]]: ...

    @abstractmethod
    def evaluate(
        self, model: nn.Module, loader: Loader, world: World | None
    ) -> dict[str, float]: ...

    def eval_loader(
        self,
        config: TrainConfig,
        info: dict[str, Any],
        *,
        source: str,
        split: str,
        per_class: int | None,
        batch_size: int,
        download: bool,
    ) -> tuple[Loader, int]:
        """A loader of another dataset or split for a trained run's model, and its sample count
        (``attnzoo eval``); optional."""
        raise AttnzooError(f"the {self.name} task cannot evaluate a checkpoint on another split")


_TASKS: dict[str, Callable[[], Task]] = {}
# The engine's own tasks outside classification, imported when a config names one: detection
# pulls in torchvision's detection models (about 1.5 s of start-up a process would otherwise pay).
_BUILTIN = {"detection": ".detection", "instance-segmentation": ".detection"}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: make ``cls`` available to configs as ``task: <cls.name>``."""
    if cls.name in _TASKS and _TASKS[cls.name] is not cls:
        raise AttnzooError(f"task {cls.name!r} is already registered by {_TASKS[cls.name]}")
    _TASKS[cls.name] = cls
    return cls


def list_tasks() -> list[str]:
    return sorted({*_TASKS, *_BUILTIN})


def get_task(name: str) -> Task:
    if name not in _TASKS and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name], __package__)
    if name not in _TASKS:
        raise AttnzooError(f"config: task={name!r} is unknown; valid: {', '.join(list_tasks())}")
    return _TASKS[name]()


def check_config(config: TrainConfig) -> Task:
    """Validate ``config`` for its task before any work starts; return the task."""
    config.validate()
    task = get_task(config.task)
    task.check(config)
    return task
