"""attnzoo: attention modules for CNNs, the backbones they plug into, and a training bench."""

from .attention import aux_loss, build_attention, list_attention, register_attention
from .deploy import deploy
from .models import create_model, list_models, register_model

__version__ = "0.1.0"


def __getattr__(name: str):
    # load_run lives in the engine; imported on first use so that `import attnzoo.report` (a
    # layer that reads JSON) does not pull the training engine in.
    if name == "load_run":
        from .engine.load import load_run

        return load_run
    raise AttributeError(f"module 'attnzoo' has no attribute {name!r}")


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
