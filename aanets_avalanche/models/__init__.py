"""Backbones, the cosine incremental classifier and the AANets aggregated backbone."""

from .aggregated import BRANCH_MODES, AggregatedBackbone, ScaledFrozenConv2d, make_stable
from .cosine import CosineClassifier, CosineIncrementalNet
from .resnet import Backbone, BasicBlock, build_backbone, resnet18, resnet32

__all__ = [
    "AggregatedBackbone", "BRANCH_MODES", "Backbone", "BasicBlock", "CosineClassifier",
    "CosineIncrementalNet", "ScaledFrozenConv2d", "build_backbone", "make_stable", "resnet18", "resnet32",
]
