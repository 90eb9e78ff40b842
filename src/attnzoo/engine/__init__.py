"""Training and evaluation engine."""

from .checkpoint import CheckpointError, load_checkpoint, load_latest, save_checkpoint
from .classification import evaluate
from .config import TrainConfig
from .load import load_run
from .task import Task, register_task
from .trainer import train

__all__ = [
    "CheckpointError",
    "Task",
    "TrainConfig",
    "evaluate",
    "load_checkpoint",
    "load_latest",
    "load_run",
    "register_task",
    "save_checkpoint",
    "train",
]
