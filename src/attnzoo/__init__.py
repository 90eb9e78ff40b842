"""attnzoo: attention modules for CNNs, the backbones they plug into, and a training bench."""

from .attention import aux_loss, build_attention, list_attention, register_attention
from .deploy import deploy
from .engine.load import load_run
from .models import create_model, list_models, register_model

__version__ = "0.1.0"

__all__ = [
    "aux_loss",
    "build_attention",
    "create_model",
    "deploy",
    "list_attention",
    "list_models",
    "load_run",
    "register_attention",
    "register_model",
]
