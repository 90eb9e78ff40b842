"""Backbones with attention at configurable places, built by name with create_model."""

from . import resnets  # noqa: F401  (registers the ResNet family)
from .placement import AttentionPlan, plan_attention
from .registry import count_params, create_model, list_models, register_model
from .resnet import ResNet

__all__ = [
    "AttentionPlan",
    "ResNet",
    "count_params",
    "create_model",
    "list_models",
    "plan_attention",
    "register_model",
]
