"""What both analyses need: a checkpoint's model with the images it was trained on, and figures.

The optional dependencies (matplotlib, scikit-learn: ``pip install 'attnzoo[analysis]'``) are
imported only when needed, and checked before any checkpoint is read, so that a missing package
fails in a second rather than after minutes of feature extraction.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from ..attention.spec import spec_name
from ..data import ImageDataset, load_dataset, normalize
from ..engine import TrainConfig, load_checkpoint
from ..engine.evaluate import model_from_checkpoint
from ..io import atomic_write
from ..validation import AttnzooError

INSTALL_HINT = "pip install 'attnzoo[analysis]'"
DISTRIBUTIONS = {"sklearn": "scikit-learn"}  # where the import name is not the package's


def require(*modules: str) -> list[ModuleType]:
    """Import ``modules``, or raise one ImportError naming the missing package and the extra."""
    try:
        return [importlib.import_module(name) for name in modules]
    except ImportError as err:
        top = (err.name or modules[0]).partition(".")[0]
        package = DISTRIBUTIONS.get(top, top)
        raise ImportError(f"this analysis needs {package}: {INSTALL_HINT}") from None


@dataclass
class Trained:
    """A checkpoint's network (CPU, weights loaded) and what it was trained as."""

    path: Path
    model: nn.Module
    config: TrainConfig
    epoch: int
    mean: list[float]
    std: list[float]
    num_classes: int
    state: dict[str, Any]  # the checkpoint as read

    def model_with(self, attention_options: dict[str, dict[str, Any]]) -> nn.Module:
        """The same network with some attention options changed, e.g. BA2M's ``eval_mode``."""
        return model_from_checkpoint(self.state, self.path, attention_options)

    @property
    def label(self) -> str:
        return f"{self.config.model} + {spec_name(self.config.attention)}"

    def images(
        self, data: str | None, split: str, per_class: int | None, download: bool = True
    ) -> ImageDataset:
        """The first ``per_class`` images of each class of ``split``, from ``data`` or the run's
        (``download``: a missing built-in dataset may be fetched)."""
        source = data or self.config.data
        dataset = load_dataset(source, split, download, max_per_class=per_class)
        if dataset.num_classes != self.num_classes:
            raise AttnzooError(
                f"{source} has {dataset.num_classes} classes but {self.path} was trained on "
                f"{self.num_classes}"
            )
        return dataset

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images as the network saw them in testing: scaled by the training set's stats."""
        return normalize(images, self.mean, self.std)


def load_trained(path: str | os.PathLike) -> Trained:
    """Rebuild a checkpoint's network; only in-memory datasets (``augment="cifar"``) are read."""
    path = Path(path)
    state = load_checkpoint(path)
    config = TrainConfig.from_dict(state["config"])
    if config.augment != "cifar":
        # Streamed datasets are resized and cropped on the fly; reading them is not supported here.
        raise AttnzooError(
            f"{path}: trained with augment={config.augment!r}; the analyses read in-memory "
            "datasets only (augment='cifar')"
        )
    info = state["data"]
    return Trained(
        path,
        model_from_checkpoint(state, path),
        config,
        int(state["epoch"]),
        list(info["mean"]),
        list(info["std"]),
        len(info["classes"]),
        state,
    )


def figure(figsize: tuple[float, float]) -> tuple[Any, Callable[[str | os.PathLike], Path]]:
    """A new Figure on an Agg canvas, and a function that writes it as PNG, atomically.

    No pyplot: drawing needs no display and leaves the backend of an importing notebook alone.
    """
    require("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    return fig, lambda path: atomic_write(path, canvas.print_png)
