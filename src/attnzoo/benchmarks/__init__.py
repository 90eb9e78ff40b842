"""Cost measurements: parameters and FLOPs."""

from .complexity import complexity

__all__ = ["complexity"]
