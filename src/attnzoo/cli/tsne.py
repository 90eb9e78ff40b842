"""``attnzoo tsne``: t-SNE of checkpoints' penultimate features, with class-separation scores."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "tsne", help="t-SNE of checkpoints' penultimate features, with class-separation scores"
    )
    parser.add_argument(
        "checkpoints", nargs="+", type=Path, help="checkpoint files, one panel each"
    )
    parser.add_argument("--out", type=Path, required=True, help="PNG to write (and a .json beside)")
    parser.add_argument(
        "--data", default=None, help="dataset (default: the one each was trained on)"
    )
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--per-class", type=int, default=100, help="first K images of each class")
    parser.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity")
    parser.add_argument("--seed", type=int, default=0, help="t-SNE random state")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis import plot_tsne

    results = plot_tsne(
        args.checkpoints,
        args.out,
        data=args.data,
        split=args.split,
        per_class=args.per_class,
        perplexity=args.perplexity,
        seed=args.seed,
    )
    for r in results:
        print(
            f"{r['label']}, epoch {r['epoch']}: silhouette {r['silhouette']:.3f}  "
            f"{r['k']}-NN accuracy {r['knn_accuracy']:.1f}%  "
            f"({r['images']} {r['split']} images, {r['checkpoint']})"
        )
    print(f"-> {args.out}, {args.out.with_suffix('.json')}")
    return 0
