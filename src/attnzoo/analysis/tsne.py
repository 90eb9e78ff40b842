"""t-SNE of the features a network classifies, one panel per checkpoint (the BA2M paper's Fig. 1).

A picture of clusters is easy to over-read, so each panel also carries two numbers computed on the
original features, not on the 2-D embedding: the silhouette score of the true classes (in
[-1, 1]; higher means tighter, better separated classes) and the leave-one-out accuracy of a
k-nearest-neighbour classifier.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..io import write_json
from ..report import read_summaries
from ..validation import AttnzooError
from .common import figure, load_trained, require


@torch.no_grad()
def penultimate_features(model: nn.Module, batches: Iterable[torch.Tensor]) -> torch.Tensor:
    """The vector the classifier ``model.fc`` receives for each image, in eval mode, as (N, D)."""
    fc = getattr(model, "fc", None)
    if not isinstance(fc, nn.Linear):
        raise AttnzooError(f"{type(model).__name__} has no linear classifier `fc` to read from")
    captured: list[torch.Tensor] = []
    # The fc's input is exactly the pooled (and, in training only, dropped-out) head output,
    # whatever pre-pool layers a backbone's head has.
    handle = fc.register_forward_pre_hook(lambda _, args: captured.append(args[0].float()))
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            model(batch)
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(captured)


def class_separation(features: np.ndarray, labels: np.ndarray, k: int = 5) -> dict[str, float]:
    """Silhouette score of ``labels`` and leave-one-out k-NN accuracy (%), Euclidean distances."""
    metrics, neighbors = require("sklearn.metrics", "sklearn.neighbors")
    n, classes = len(labels), len(np.unique(labels))
    if not 2 <= classes < n or not 1 <= k < n:
        raise AttnzooError(
            f"class separation needs 2 <= classes < images and 1 <= k < images; "
            f"got {classes} classes, {n} images, k={k}"
        )
    # kneighbors() without a query leaves each point out of its own neighbours.
    _, nearest = neighbors.NearestNeighbors(n_neighbors=k).fit(features).kneighbors()
    votes = np.zeros((n, int(labels.max()) + 1))
    np.add.at(votes, (np.arange(n)[:, None], labels[nearest]), 1.0)
    # Half a vote to the nearest neighbour's class breaks ties in its favour, and only ties.
    votes[np.arange(n), labels[nearest[:, 0]]] += 0.5
    return {
        "silhouette": float(metrics.silhouette_score(features, labels)),
        "knn_accuracy": float(100 * (votes.argmax(1) == labels).mean()),
    }


def _final_top1(path: Path, epoch: int) -> float | None:
    """The run's final test top-1 if ``path`` holds the final epoch and the run wrote a summary."""
    if not (path.parent / "summary.json").is_file():
        return None
    [summary] = read_summaries([path.parent])
    return summary["top1"] if summary["epochs"] == epoch else None


def plot_tsne(
    checkpoints: Sequence[str | os.PathLike],
    out_png: str | os.PathLike,
    *,
    data: str | None = None,
    split: str = "test",
    per_class: int | None = 100,
    perplexity: float = 30.0,
    seed: int = 0,
    k: int = 5,
    batch_size: int = 500,
) -> list[dict[str, Any]]:
    """Embed each checkpoint's penultimate features of ``split`` and draw one panel per checkpoint.

    Writes ``out_png`` and, beside it, a ``.json`` with each checkpoint's class-separation numbers,
    which are also returned. Images are the first ``per_class`` of each class, normalised with the
    training set's statistics stored in the checkpoint.
    """
    (manifold,) = require("sklearn.manifold")
    require("matplotlib")
    if not checkpoints:
        raise AttnzooError("give at least one checkpoint")
    if Path(out_png).suffix.lower() != ".png":
        raise AttnzooError(f"the output {out_png} must be a .png file")
    missing = [str(p) for p in checkpoints if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"checkpoint not found: {', '.join(missing)}")
    if perplexity <= 0:
        raise AttnzooError(f"perplexity must be positive, got {perplexity}")
    panels, results = [], []
    for path in map(Path, checkpoints):
        trained = load_trained(path)
        dataset = trained.images(data, split, per_class)
        if perplexity >= len(dataset):
            raise AttnzooError(
                f"perplexity={perplexity} must be below the number of images ({len(dataset)}); "
                "lower --perplexity or raise --per-class"
            )
        chunks = (trained.normalize(c) for c in dataset.images.split(batch_size))
        features = penultimate_features(trained.model, chunks).numpy()
        labels = dataset.labels.numpy()
        tsne = manifold.TSNE(perplexity=perplexity, init="pca", random_state=seed)
        panels.append((tsne.fit_transform(features), labels, dataset.classes))
        result = {
            "checkpoint": str(path),
            "label": trained.label,
            "epoch": trained.epoch,
            "final_top1": _final_top1(path, trained.epoch),
            "split": split,
            "images": len(dataset),
            "features": features.shape[1],
            "k": k,
            **class_separation(features, labels, k),
        }
        results.append(result)
    _draw(panels, results, Path(out_png))
    write_json(Path(out_png).with_suffix(".json"), results)
    return results


PANEL_INCHES, LEGEND_INCHES, MAX_COLUMNS = 4.0, 1.6, 4


def _draw(panels: list, results: list[dict[str, Any]], out_png: Path) -> None:
    from matplotlib import colormaps

    columns = min(len(panels), MAX_COLUMNS)
    rows = math.ceil(len(panels) / columns)
    fig, save = figure((PANEL_INCHES * columns + LEGEND_INCHES, PANEL_INCHES * rows))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, (xy, labels, classes), result in zip(axes, panels, results, strict=False):
        name = "tab10" if len(classes) <= 10 else "tab20" if len(classes) <= 20 else "turbo"
        palette = colormaps[name].resampled(len(classes))
        for i, class_name in enumerate(classes):
            ax.scatter(*xy[labels == i].T, s=6, color=palette(i), label=class_name)
        top1 = result["final_top1"]
        ax.set_title(
            f"{result['label']}, epoch {result['epoch']}"
            + (f", top-1 {top1:.1f}%" if top1 is not None else "")
            + f"\nsilhouette {result['silhouette']:.3f}, "
            f"{result['k']}-NN {result['knn_accuracy']:.1f}%",
            fontsize="medium",
        )
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    if len(panels[0][2]) <= 20:  # a legend of more classes would not fit beside the panels
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside right upper", fontsize="small", markerscale=2)
    save(out_png)
