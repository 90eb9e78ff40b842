"""The figures of ``attnzoo inspect``: weight-loss correlations, and SAR maps over images."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from .common import figure

PANEL = (4.0, 3.5)  # inches per panel of the correlation figure
CELL = 2.0  # inches per image of the SAR grid
CAPTIONS = 0.8  # inches of the SAR grid for its title and colour bars


def plot_correlations(
    rows: Sequence[dict[str, Any]], last: Sequence[dict[str, Any]], out_png: str | os.PathLike
) -> None:
    """Spearman(weight, loss) against epoch, one line per module; then, one panel per module,
    weight against loss at the last epoch (``last``: the sample rows of that epoch)."""
    modules = list(dict.fromkeys(r["module"] for r in rows))
    fig, save = figure((PANEL[0] * (1 + len(modules)), PANEL[1]))
    trend, *scatters = fig.subplots(1, 1 + len(modules), squeeze=False)[0]
    for module in modules:
        mine = [r for r in rows if r["module"] == module]
        trend.plot([r["epoch"] for r in mine], [r["spearman"] for r in mine], "o-", label=module)
    trend.axhline(0, color="grey", linewidth=0.8)
    trend.set_ylim(-1.05, 1.05)
    trend.xaxis.get_major_locator().set_params(integer=True)
    trend.set(
        xlabel="epoch", ylabel="Spearman(weight, loss)", title="above 0: hard samples up-weighted"
    )
    trend.legend(fontsize="small")
    final = rows[-1]["epoch"]
    for ax, module in zip(scatters, modules, strict=True):
        mine = [s for s in last if s["module"] == module]
        ax.scatter([s["loss"] for s in mine], [s["weight"] for s in mine], s=6, alpha=0.6)
        ax.axhline(1, color="grey", linewidth=0.8)  # the mean weight of every batch
        [row] = [r for r in rows if r["module"] == module and r["epoch"] == final]
        ax.set(
            xlabel="loss (cross-entropy)",
            ylabel="weight (N softmax)",
            title=f"{module}, epoch {final}: Spearman {row['spearman']:+.2f}",
        )
    save(out_png)


def plot_sar_maps(
    images: torch.Tensor,
    captions: Sequence[str],
    maps: dict[str, torch.Tensor],
    weights: dict[str, Sequence[float]],
    title: str,
    out_png: str | os.PathLike,
) -> None:
    """One row per image: the image (uint8 (C, H, W)), then each module's map (H, W) titled with
    the sample's weight. A module's maps share one colour scale, so that rows compare."""
    fig, save = figure((CELL * (1 + len(maps)), CELL * len(images) + CAPTIONS))
    axes = fig.subplots(len(images), 1 + len(maps), squeeze=False)
    for row, (image, caption) in enumerate(zip(images, captions, strict=True)):
        picture = image.permute(1, 2, 0).numpy()
        gray = picture.shape[-1] == 1
        axes[row, 0].imshow(picture[..., 0] if gray else picture, cmap="gray" if gray else None)
        axes[row, 0].set_title(caption, fontsize="small")
    for column, (module, module_maps) in enumerate(maps.items(), start=1):
        low, high = float(module_maps.min()), float(module_maps.max())
        for row, sar in enumerate(module_maps):
            shown = axes[row, column].imshow(sar.numpy(), vmin=low, vmax=high)
            header = f"{module}\n" if row == 0 else ""
            axes[row, column].set_title(f"{header}w = {weights[module][row]:.2f}", fontsize="small")
        fig.colorbar(shown, ax=axes[:, column], location="bottom", shrink=0.8, label="SAR")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    save(out_png)
