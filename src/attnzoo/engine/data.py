"""The classification task's training and test loaders, sharded over the processes."""

from __future__ import annotations

from ..data import (
    BatchLoader,
    EvalTransform,
    StreamLoader,
    TrainTransform,
    channel_stats,
    dataset_identity,
    load_dataset,
    open_stream,
)
from .config import TrainConfig
from .distributed import World
from .task import Loaders


def _check_batch(config: TrainConfig, world: World, train_images: int) -> None:
    if config.batch_size * world.size > train_images:
        raise ValueError(
            f"config: batch_size={config.batch_size} x {world.size} process(es) is larger than "
            f"the training set ({train_images} images): no full batch would be produced"
        )


def in_memory_loaders(config: TrainConfig, world: World) -> Loaders:
    """CIFAR-style: decoded datasets held as uint8 tensors, augmented a batch at a time."""
    train_set = load_dataset(
        config.data, "train", config.download, max_per_class=config.train_per_class
    )
    test_set = load_dataset(
        config.data, "test", config.download, max_per_class=config.test_per_class
    )
    if test_set.classes != train_set.classes:
        raise ValueError(
            f"{config.data}: the test split's classes differ from the training split's "
            f"({len(test_set.classes)} vs {len(train_set.classes)}); labels would not match"
        )
    _check_batch(config, world, len(train_set))
    mean, std = channel_stats(train_set.images)
    shard = {"rank": world.rank, "world_size": world.size, "device": world.device}
    train = BatchLoader(
        train_set, config.batch_size, shuffle=True, drop_last=True,
        transform=TrainTransform(mean, std, padding=config.padding), seed=config.seed, **shard,
    )  # fmt: skip
    test = BatchLoader(
        test_set, config.eval_batch_size, shuffle=False, drop_last=False,
        transform=EvalTransform(mean, std), **shard,
    )  # fmt: skip
    info = {
        "train_images": len(train_set),
        "test_images": len(test_set),
        "classes": list(train_set.classes),
        "in_chans": train_set.images.shape[1],
        "image_size": train_set.images.shape[-1],  # square: CIFAR, Fashion-MNIST
        "mean": mean,
        "std": std,
    }
    return Loaders(train, test, info)


def streaming_loaders(config: TrainConfig, world: World) -> Loaders:
    """ImageNet-style: files decoded in worker processes, never all in memory."""
    train_samples, classes = open_stream(config.data, "train")
    test_samples, _ = open_stream(config.data, "test")
    _check_batch(config, world, len(train_samples))
    common = {
        "rank": world.rank,
        "world_size": world.size,
        "num_workers": config.workers,
        "image_size": config.image_size,
        "device": world.device,
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
        "mean": list(train.mean),
        "std": list(train.std),
        "image_size": config.image_size,
    }
    return Loaders(train, test, info)


def build_loaders(config: TrainConfig, world: World) -> Loaders:
    """The loaders of ``config.augment``'s kind; their ``info`` also records the dataset's
    identity (``sha256``: :func:`attnzoo.data.dataset_identity`), which the summary keeps."""
    build = streaming_loaders if config.augment == "imagenet" else in_memory_loaders
    loaders = build(config, world)
    loaders.info["sha256"] = dataset_identity(config.data)
    return loaders
