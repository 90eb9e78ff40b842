"""Training and evaluation engine."""

from .checkpoint import CheckpointError, load_checkpoint, load_latest, save_checkpoint
from .config import TrainConfig
from .trainer import evaluate, train

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "evaluate",
    "load_checkpoint",
    "load_latest",
    "save_checkpoint",
    "train",
]
