"""Datasets held in memory as uint8 tensors or streamed from files, their readers, augmentation
and sharded, resumable loading."""

from .cifar import read_cifar
from .dataset import DatasetError, ImageDataset
from .download import DownloadError, fetch_dataset
from .idx import FASHION_MNIST_CLASSES, read_idx
from .image_folder import read_image_folder
from .loader import BatchLoader, BatchTransform, ShardedLoader
from .pil_transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RandomResizedCropFlip,
    ResizeCenterCrop,
    random_resized_box,
)
from .registry import dataset_identity, list_datasets, load_dataset
from .stream import StreamLoader, open_stream, scan_image_folder
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
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BatchLoader",
    "BatchTransform",
    "DatasetError",
    "DownloadError",
    "EvalTransform",
    "ImageDataset",
    "RandomResizedCropFlip",
    "ResizeCenterCrop",
    "ShardedLoader",
    "StreamLoader",
    "TrainTransform",
    "channel_stats",
    "crop_flip",
    "dataset_identity",
    "fetch_dataset",
    "list_datasets",
    "load_dataset",
    "normalize",
    "open_stream",
    "random_crop_flip",
    "random_resized_box",
    "read_cifar",
    "read_idx",
    "read_image_folder",
    "sample_crop_flip",
    "scan_image_folder",
]
