"""Analyses of trained checkpoints for the reproduction study (docs/analysis.md).

- :func:`plot_tsne` (``attnzoo tsne``): t-SNE of the penultimate features of several checkpoints,
  with class-separation numbers computed on the features themselves.
- :func:`inspect_run` (``attnzoo inspect``): what BA2M learns over a run: its per-sample weights
  against the samples' losses, epoch by epoch, and its SAR maps over a few images.
- :func:`batch_softmax_effect` (``attnzoo batch-eval``): whether BA2M's batch softmax at test time
  changes a trained network's predictions, per test batch size.

The first two need the ``analysis`` extra (matplotlib; scikit-learn for t-SNE).
"""

from .ba2m import pearson, sar_maps, spearman, training_forward, weights_and_losses
from .ba2m_report import find_snapshots, inspect_run
from .batch_eval import batch_softmax_effect
from .tsne import class_separation, penultimate_features, plot_tsne

__all__ = [
    "batch_softmax_effect",
    "class_separation",
    "find_snapshots",
    "inspect_run",
    "pearson",
    "penultimate_features",
    "plot_tsne",
    "sar_maps",
    "spearman",
    "training_forward",
    "weights_and_losses",
]
