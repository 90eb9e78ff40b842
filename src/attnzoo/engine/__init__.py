"""Training and evaluation engine."""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .trainer import count_params, evaluate, train

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "count_params",
    "evaluate",
    "load_checkpoint",
    "save_checkpoint",
    "train",
]
