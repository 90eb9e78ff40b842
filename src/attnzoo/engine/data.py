"""The classification task's training and test loaders, sharded over the processes.

How images are prepared is stored in the loaders' ``info`` (a checkpoint's ``data``), which
``attnzoo eval`` reads to prepare them the same way: ``mean``, ``std`` and ``interpolation``,
and the in-memory loader's ``resize`` or the streaming loader's ``image_size`` and
``resize_size``. With a ``pretrained`` source that has a preprocessing (timm's
``pretrained_cfg``, torchvision's ``transforms()``) and ``pretrained_preprocess`` on, its mean and
std replace the data's own statistics (the training set's channel statistics for in-memory data,
ImageNet's for streamed data), its interpolation is used for every resize, and the streaming
loader crops the source's input size and resizes test images to its ``resize_size`` (timm:
``floor(size / crop_pct)``, as timm's eval transform).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BatchLoader,
    EvalTransform,
    ImageDataset,
    StreamLoader,
    TrainTransform,
    channel_stats,
    dataset_identity,
    load_dataset,
    open_stream,
)
from ..data.pil_transforms import EVAL_CROP_FRACTION
from ..models.pretrained import find_pretrained
from ..validation import AttnzooError
from .config import TrainConfig
from .distributed import World
from .task import Loaders


def _check_batch(config: TrainConfig, world: World, train_images: int) -> None:
    if config.batch_size * world.size > train_images:
        raise AttnzooError(
            f"config: batch_size={config.batch_size} x {world.size} process(es) is larger than "
            f"the training set ({train_images} images): no full batch would be produced"
        )


def source_preprocessing(config: TrainConfig) -> dict[str, Any] | None:
    """The ``pretrained`` source's preprocessing (timm's ``pretrained_cfg`` keys) that the loaders
    follow, or None: no source, a plain file, or ``pretrained_preprocess`` off."""
    if not (config.pretrained and config.pretrained_preprocess):
        return None
    return find_pretrained(config.pretrained).cfg


def _check_channels(config: TrainConfig, mean: list[float], channels: int) -> None:
    if len(mean) != channels:
        raise AttnzooError(
            f"config: pretrained={config.pretrained!r} was trained on {len(mean)}-channel images "
            f"and {config.data} has {channels} channel(s)"
        )


def eval_transform(info: dict[str, Any]) -> EvalTransform:
    """The in-memory test transform a checkpoint's data ``info`` describes: its mean and std, and
    the resize of a run that resized (runs saved before ``resize`` was stored did not)."""
    resize = info.get("resize") or None
    return EvalTransform(info["mean"], info["std"], resize, info.get("interpolation", "bilinear"))


def held_out_count(val_split: float, train_images: int) -> int:
    """The images ``val_split`` holds out of ``train_images``: itself if 1 or more, else that
    fraction of them rounded (at least one); an AttnzooError if none would be left to train."""
    count = int(val_split) if val_split >= 1 else max(1, round(val_split * train_images))
    if count >= train_images:
        raise AttnzooError(
            f"config: val_split={val_split!r} holds out {count} of the {train_images} training "
            "images: none would be left to train on"
        )
    return count


def _splits(config: TrainConfig) -> tuple[ImageDataset, ImageDataset | None, ImageDataset]:
    """The training images, those ``val_split`` holds out of them (by the run's seed: see
    :meth:`~attnzoo.data.ImageDataset.hold_out`) or None, and the test images."""
    train_set = load_dataset(
        config.data, "train", config.download, max_per_class=config.train_per_class
    )
    val_set = None
    if config.val_split:
        count = held_out_count(config.val_split, len(train_set))
        train_set, val_set = train_set.hold_out(count, config.seed)
    test_set = load_dataset(
        config.data, "test", config.download, max_per_class=config.test_per_class
    )
    if test_set.classes != train_set.classes:
        raise AttnzooError(
            f"{config.data}: the test split's classes differ from the training split's "
            f"({len(test_set.classes)} vs {len(train_set.classes)}); labels would not match"
        )
    return train_set, val_set, test_set


def in_memory_loaders(config: TrainConfig, world: World) -> Loaders:
    """CIFAR-style: decoded datasets held as uint8 tensors, augmented a batch at a time.

    The images ``val_split`` holds out form the validation loader: never trained on, nor counted
    in the channel statistics. ``batched_test`` is the test split in batches of the training size.
    """
    train_set, val_set, test_set = _splits(config)
    _check_batch(config, world, len(train_set))
    source = source_preprocessing(config)
    if source is None:
        mean, std, interpolation = *channel_stats(train_set.images), "bilinear"
    else:
        mean, std = list(source["mean"]), list(source["std"])
        interpolation = source["interpolation"]
        _check_channels(config, mean, train_set.images.shape[1])
    prepare = {"size": config.resize or None, "interpolation": interpolation}
    shard = {"rank": world.rank, "world_size": world.size, "device": world.device}
    train = BatchLoader(
        train_set,
        config.batch_size,
        shuffle=True,
        drop_last=True,
        transform=TrainTransform(mean, std, padding=config.padding, **prepare),
        seed=config.seed,
        **shard,
    )

    def evaluation(dataset: ImageDataset, batch_size: int) -> BatchLoader:
        transform = EvalTransform(mean, std, **prepare)
        return BatchLoader(
            dataset, batch_size, shuffle=False, drop_last=False, transform=transform, **shard
        )

    info = {
        "train_images": len(train_set),
        "test_images": len(test_set),
        "classes": list(train_set.classes),
        "in_chans": train_set.images.shape[1],
        "image_size": config.resize or train_set.images.shape[-1],  # square: CIFAR, Fashion-MNIST
        "resize": config.resize,
        "interpolation": interpolation,
        "mean": mean,
        "std": std,
        **({"val_images": len(val_set)} if val_set is not None else {}),
    }
    return Loaders(
        train,
        evaluation(test_set, config.eval_batch_size),
        info,
        val=None if val_set is None else evaluation(val_set, config.eval_batch_size),
        batched_test=evaluation(test_set, config.batch_size),
    )


def streaming_loaders(config: TrainConfig, world: World) -> Loaders:
    """ImageNet-style: files decoded in worker processes, never all in memory."""
    train_samples, classes = open_stream(config.data, "train")
    test_samples, _ = open_stream(config.data, "test")
    _check_batch(config, world, len(train_samples))
    prepare = stream_preprocessing(config)
    common = {
        "rank": world.rank,
        "world_size": world.size,
        "num_workers": config.workers,
        "device": world.device,
        **prepare,
    }
    train = StreamLoader(
        train_samples, classes, config.batch_size, train=True, seed=config.seed, **common
    )
    test = StreamLoader(test_samples, classes, config.eval_batch_size, train=False, **common)
    info = {
        "train_images": len(train_samples),
        "test_images": len(test_samples),
        "classes": list(classes),
        "in_chans": 3,
        **prepare,
    }
    return Loaders(train, test, info)


def stream_preprocessing(config: TrainConfig) -> dict[str, Any]:
    """The streaming loaders' ``image_size``, ``resize_size``, ``interpolation``, ``mean`` and
    ``std``: the ``pretrained`` source's, else ``image_size`` cropped from its 0.875 resize,
    bilinear, with ImageNet's statistics."""
    source = source_preprocessing(config)
    if source is None:
        size = config.image_size
        return {
            "image_size": size,
            "resize_size": round(size / EVAL_CROP_FRACTION),
            "interpolation": "bilinear",
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
        }
    size = source["input_size"][-1]
    default = next(f.default for f in dataclasses.fields(config) if f.name == "image_size")
    if config.image_size not in (default, size):
        raise AttnzooError(
            f"config: image_size={config.image_size}, but {config.pretrained} is prepared at "
            f"{size}; pretrained_preprocess takes the source's (--no-pretrained-preprocess: "
            "image_size and ImageNet's statistics)"
        )
    _check_channels(config, list(source["mean"]), 3)
    resize = source.get("resize_size") or math.floor(size / source["crop_pct"])
    return {
        "image_size": size,
        "resize_size": resize,
        "interpolation": source["interpolation"],
        "mean": list(source["mean"]),
        "std": list(source["std"]),
    }


def build_loaders(config: TrainConfig, world: World) -> Loaders:
    """The loaders of ``config.augment``'s kind; their ``info`` also records the dataset's
    identity (``sha256``: :func:`attnzoo.data.dataset_identity`), which the summary keeps."""
    build = streaming_loaders if config.augment == "imagenet" else in_memory_loaders
    loaders = build(config, world)
    loaders.info["sha256"] = dataset_identity(config.data)
    return loaders
