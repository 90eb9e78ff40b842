"""Cost measurements: parameters and multiply-adds, and the papers' published figures."""

from .complexity import ModuleCost, complexity, module_costs

__all__ = ["ModuleCost", "complexity", "module_costs"]
