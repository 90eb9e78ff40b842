"""``attnzoo inspect``: what BA2M learns over a run, from its per-epoch checkpoint snapshots.

For each snapshot (``epoch-NNN.safetensors``, then ``checkpoint.safetensors`` if it is a later
epoch) the same training images, in the same batches, go through the training forward; each BA2M
module's weights are set against the samples' losses. Files written to the output folder:

- ``samples.csv``: epoch, module, batch, index (in the per-class subset), label, loss, weight;
- ``correlation.csv`` / ``correlation.json``: per (epoch, module) the Spearman and Pearson
  correlations of weight and loss over all samples, and the spread of the weights;
- ``weights_vs_loss.png``: the correlations over epochs, and weight against loss at the last one;
- ``sar_maps.png``: a few images of the first batch and each module's SAR map over them.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_write_text, write_json
from ..validation import AttnzooError
from .ba2m import ba2m_modules, pearson, sar_maps, spearman, weights_and_losses
from .ba2m_plots import plot_correlations, plot_sar_maps
from .common import Trained, load_trained, require

SNAPSHOT = re.compile(r"epoch-(\d+)\.safetensors")
SAMPLE_FIELDS = ("epoch", "module", "batch", "index", "label", "loss", "weight")


def find_snapshots(run_dir: str | os.PathLike) -> list[Path]:
    """A run's epoch snapshots in epoch order, then its latest checkpoint if it has one."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    epochs = {p: int(m[1]) for p in run_dir.iterdir() if (m := SNAPSHOT.fullmatch(p.name))}
    paths = sorted(epochs, key=epochs.__getitem__)  # numerically: epoch-1000 after epoch-999
    if (run_dir / "checkpoint.safetensors").is_file():
        paths.append(run_dir / "checkpoint.safetensors")
    if not paths:
        raise FileNotFoundError(
            f"no checkpoint in {run_dir}: expected epoch-NNN.safetensors snapshots "
            "(train with --keep-every 1) or checkpoint.safetensors"
        )
    return paths


def fixed_batches(images: int, batch_size: int, seed: int) -> torch.Tensor:
    """(batches, batch_size) sample indices: one seeded shuffle, cut into full batches.

    The shuffle mixes the classes within a batch, as training's does, also for datasets stored
    class by class; only full batches are kept, since N * softmax over a smaller one differs.
    """
    if batch_size < 2:
        raise AttnzooError(
            f"batch size must be at least 2 (a softmax over one sample is 1), got {batch_size}"
        )
    if images < batch_size:
        raise AttnzooError(
            f"batch size {batch_size} is larger than the {images} images; "
            "lower --batch-size or raise --per-class"
        )
    order = torch.randperm(images, generator=torch.Generator().manual_seed(seed))
    return order[: images // batch_size * batch_size].view(-1, batch_size)


def inspect_run(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    data: str | None = None,
    per_class: int | None = 100,
    batch_size: int | None = None,
    images: int = 6,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Write the files listed in the module docstring to ``out_dir``; return the correlation rows.

    Images are the first ``per_class`` training images of each class of ``data`` (default: the
    run's dataset), without augmentation, in batches of ``batch_size`` (default: the run's).
    """
    require("matplotlib")
    snapshots = find_snapshots(run_dir)
    first = load_trained(snapshots[0])
    modules = ba2m_modules(first.model)
    if not modules:
        raise AttnzooError(
            f"{run_dir}: {first.label} has no BA2M module; inspect needs a run trained with "
            "--attention ba2m"
        )
    dataset = first.images(data, "train", per_class)
    index = fixed_batches(len(dataset), batch_size or first.config.batch_size, seed)
    if not 1 <= images <= index.shape[1]:
        raise AttnzooError(f"images must be in [1, {index.shape[1]}] (one batch), got {images}")

    run = _correlate(snapshots, first, dataset, index, modules)
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / "samples.csv", run.samples)
    atomic_write_text(out_dir / "correlation.csv", _csv(run.rows))
    write_json(
        out_dir / "correlation.json",
        {
            "run": str(run_dir),
            "data": data or first.config.data,
            "split": "train",
            "per_class": per_class,
            "images": index.numel(),
            "batch_size": index.shape[1],
            "seed": seed,
            "rows": run.rows,
        },
    )
    plot_correlations(run.rows, run.last, out_dir / "weights_vs_loss.png")
    _plot_maps(run, dataset, index[0], images, out_dir / "sar_maps.png")
    return run.rows


@dataclass
class _Correlated:
    rows: list[dict[str, Any]]  # one per (epoch, module)
    samples: str  # samples.csv
    last: list[dict[str, Any]]  # the final epoch's sample rows, which are plotted
    trained: Trained  # the final epoch's network
    weights: dict[str, torch.Tensor]  # and its weights, per module


def _correlate(
    snapshots: list[Path],
    first: Trained,
    dataset: Any,
    index: torch.Tensor,
    modules: dict[str, Any],
) -> _Correlated:
    """Each distinct epoch's weights against the samples' losses, over the fixed batches."""
    rows: list[dict[str, Any]] = []
    # Sample rows are written as they come: a long run has epochs x modules x images of them.
    samples = io.StringIO()
    sample_writer = csv.DictWriter(samples, SAMPLE_FIELDS)
    sample_writer.writeheader()
    for trained in _distinct_epochs(snapshots, first):
        batches = ((trained.normalize(dataset.images[i]), dataset.labels[i]) for i in index)
        weights, losses = weights_and_losses(trained.model, batches)
        last = []
        for name, w in weights.items():
            rows.append(_correlation_row(trained.epoch, name, modules[name].channels, w, losses))
            last += _sample_rows(trained.epoch, name, index, dataset.labels, w, losses)
        sample_writer.writerows(last)
    return _Correlated(rows, samples.getvalue(), last, trained, weights)


def _plot_maps(
    run: _Correlated, dataset: Any, batch: torch.Tensor, images: int, path: Path
) -> None:
    """The SAR maps of the final epoch over a few images of the first batch.

    The maps are computed on the whole batch (BatchNorm uses its statistics); a few of its
    images are shown, with the weights they got in it (the first entries of the epoch).
    """
    trained, shown = run.trained, batch[:images]
    maps = sar_maps(trained.model, trained.normalize(dataset.images[batch]))
    plot_sar_maps(
        dataset.images[shown],
        [dataset.classes[int(c)] for c in dataset.labels[shown]],
        {name: m[:images] for name, m in maps.items()},
        {name: run.weights[name][:images].tolist() for name in maps},
        f"{trained.label}, epoch {trained.epoch}",
        path,
    )


def _distinct_epochs(snapshots: list[Path], first: Trained) -> Iterator[Trained]:
    """Each snapshot's network (``first``: the first one's, loaded already), in order, without
    ``checkpoint.safetensors`` when it is the last snapshot again (training hard-links them)."""
    previous = None
    for path in snapshots:
        trained = first if path == snapshots[0] else load_trained(path)
        if trained.epoch != previous:
            yield trained
        previous = trained.epoch


def _correlation_row(
    epoch: int, module: str, channels: int, weights: torch.Tensor, losses: torch.Tensor
) -> dict[str, Any]:
    w, loss = weights.numpy(), losses.numpy()
    return {
        "epoch": epoch,
        "module": module,
        "channels": channels,
        "samples": len(w),
        "spearman": spearman(w, loss),
        "pearson": pearson(w, loss),
        "weight_std": float(w.std()),
        "weight_min": float(w.min()),
        "weight_max": float(w.max()),
        "mean_loss": float(loss.mean()),
    }


def _sample_rows(
    epoch: int,
    module: str,
    index: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    losses: torch.Tensor,
) -> list[dict[str, Any]]:
    flat = index.flatten()
    batch = torch.arange(len(flat)) // index.shape[1]
    columns = (batch, flat, labels[flat], losses, weights)
    return [
        dict(zip(SAMPLE_FIELDS, (epoch, module, *values), strict=True))
        for values in zip(*(c.tolist() for c in columns), strict=True)
    ]


def _csv(rows: list[dict[str, Any]]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()
