"""Backbones with attention at configurable places, built by name with create_model."""

# Importing a family registers its models.
from . import (  # noqa: F401
    densenet,
    efficientnet,
    mobilenetv2,
    preresnet,
    resnets,
    resnext,
    shufflenetv2,
    sknet,
    wide_resnet,
)
from .base import StagedNet
from .placement import AttentionPlan, plan_attention
from .registry import check_model_options, count_params, create_model, list_models, register_model
from .resnet import ResNet

__all__ = [
    "AttentionPlan",
    "ResNet",
    "StagedNet",
    "check_model_options",
    "count_params",
    "create_model",
    "list_models",
    "plan_attention",
    "register_model",
]
