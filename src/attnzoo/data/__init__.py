"""Datasets held in memory as uint8 tensors, their readers, batched augmentation and loading."""

from .cifar import read_cifar
from .dataset import DatasetError, ImageDataset
from .idx import FASHION_MNIST_CLASSES, read_idx
from .image_folder import read_image_folder
from .loader import BatchLoader
from .registry import list_datasets, load_dataset
from .transforms import (
    EvalTransform,
    TrainTransform,
    channel_stats,
    crop_flip,
    normalize,
    random_crop_flip,
    sample_crop_flip,
)

__all__ = [
    "FASHION_MNIST_CLASSES",
    "BatchLoader",
    "DatasetError",
    "EvalTransform",
    "ImageDataset",
    "TrainTransform",
    "channel_stats",
    "crop_flip",
    "list_datasets",
    "load_dataset",
    "normalize",
    "random_crop_flip",
    "read_cifar",
    "read_idx",
    "read_image_folder",
    "sample_crop_flip",
]
