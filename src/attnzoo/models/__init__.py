"""Backbones with attention at configurable places, built by name with create_model."""

# Importing a family registers its models.
from . import preresnet, resnets, resnext, wide_resnet  # noqa: F401
from .base import StagedNet
from .placement import AttentionPlan, plan_attention
from .registry import count_params, create_model, list_models, register_model
from .resnet import ResNet

__all__ = [
    "AttentionPlan",
    "ResNet",
    "StagedNet",
    "count_params",
    "create_model",
    "list_models",
    "plan_attention",
    "register_model",
]
