"""The classification task: images -> labels, cross-entropy (or focal / OHEM), top-1 and top-5."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data import BatchLoader, StreamLoader, load_dataset, open_stream
from ..models import create_model
from ..models.frozen_bn import freeze_pretrained_batchnorm
from ..models.pretrained import find_pretrained
from ..validation import AttnzooError
from . import distributed
from .config import TrainConfig
from .data import build_loaders, eval_transform
from .distributed import World
from .losses import classification_loss
from .metrics import topk_correct
from .task import Loader, Loaders, Task, register_task


@torch.no_grad()
def evaluate(model: nn.Module, loader: Loader, world: World | None = None) -> dict[str, float]:
    """Mean loss and top-1/top-5 accuracy (in %) of ``model`` in eval mode over ``loader``.

    With several processes each evaluates its shard and the sums are added up.
    """
    model.eval()
    loss_sum, top1, top5, count = 0.0, 0, 0, 0
    loader.set_epoch(0)
    for images, labels in loader:
        logits = model(images).float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        hits = topk_correct(logits, labels)
        top1, top5, count = top1 + hits[0], top5 + hits[1], count + len(labels)
    if world is not None:
        loss_sum, top1, top5, count = distributed.all_sum(world, [loss_sum, top1, top5, count])
    return {"loss": loss_sum / count, "top1": 100 * top1 / count, "top5": 100 * top5 / count}


@register_task
class Classification(Task):
    name = "classification"
    primary_metric = "top1"
    higher_is_better = True

    def check(self, config: TrainConfig) -> None:
        if config.pretrained:
            find_pretrained(config.pretrained)  # an unknown source or a missing file: one line

    def build_loaders(self, config: TrainConfig, world: World) -> Loaders:
        return build_loaders(config, world)

    def build_model(self, config: TrainConfig, info: dict[str, Any]) -> nn.Module:
        """The network, with ``config.pretrained``'s weights loaded and, with ``freeze_bn``, its
        loaded BatchNorm layers frozen."""
        model = create_model(
            config.model,
            len(info["classes"]),
            in_chans=info["in_chans"],
            attention=config.attention_spec(),
            model_options=config.model_options,
            pretrained=config.pretrained or False,
            pretrained_strict=config.pretrained_strict,
        )
        if config.freeze_bn:
            freeze_pretrained_batchnorm(model)
        return model

    def loss(
        self, output: torch.Tensor, batch: Any, config: TrainConfig
    ) -> tuple[torch.Tensor, int, dict[str, float]]:
        labels = batch[1]
        loss = classification_loss(
            output.float(),
            labels,
            kind=config.loss,
            label_smoothing=config.label_smoothing,
            focal_gamma=config.focal_gamma,
            ohem_fraction=config.ohem_fraction,
        )
        correct = int((output.argmax(1) == labels).sum())
        return loss, len(labels), {"top1": 100.0 * correct}

    def evaluate(self, model: nn.Module, loader: Loader, world: World | None) -> dict[str, float]:
        return evaluate(model, loader, world)

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
        """A loader of ``split`` of ``source`` prepared as the run's test split, and its size.

        The images are prepared as the checkpoint's data info says (CIFAR: resized if the run
        resized them; ImageNet: resize and centre crop), normalised with its mean and std.
        Checkpoints written before the info held an interpolation and a resize were bilinear,
        stored size and 0.875 crop.
        """
        if config.augment == "imagenet":
            samples, classes = open_stream(source, split)
            loader = StreamLoader(
                samples,
                classes,
                batch_size,
                train=False,
                num_workers=config.workers,
                image_size=info["image_size"],
                resize_size=info.get("resize_size"),
                interpolation=info.get("interpolation", "bilinear"),
                mean=info["mean"],
                std=info["std"],
            )
            num_classes, size = len(classes), len(samples)
        else:
            dataset = load_dataset(source, split, download, max_per_class=per_class)
            loader = BatchLoader(
                dataset, batch_size, shuffle=False, drop_last=False, transform=eval_transform(info)
            )
            num_classes, size = dataset.num_classes, len(dataset)
        if num_classes != len(info["classes"]):
            raise AttnzooError(
                f"{source} has {num_classes} classes but the checkpoint was trained on "
                f"{len(info['classes'])}"
            )
        return loader, size
