"""Training and evaluation engine."""

from .checkpoint import CheckpointError, load_checkpoint, load_latest, save_checkpoint
from .config import TrainConfig
from .load import load_run
from .trainer import evaluate, train

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "evaluate",
    "load_checkpoint",
    "load_latest",
    "load_run",
    "save_checkpoint",
    "train",
]
