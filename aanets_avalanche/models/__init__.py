"""Backbones (LUCIR's and PODNet's), the cosine and local-similarity incremental classifiers and
the AANets aggregated backbone."""

from .aggregated import BRANCH_MODES, AggregatedBackbone, ScaledFrozenConv2d, make_stable
from .cosine import CosineClassifier, CosineIncrementalNet
from .folding import fold_batchnorm, folded_copy
from .lsc import LocalSimilarityClassifier, ProxyIncrementalNet
from .mlp import mlp, mlp_bn
from .podnet_resnet import StrideShortcut, podnet_resnet18, podnet_resnet32
from .resnet import Backbone, BasicBlock, build_backbone, resnet18, resnet32

__all__ = [
    "AggregatedBackbone", "BRANCH_MODES", "Backbone", "BasicBlock", "CosineClassifier",
    "CosineIncrementalNet", "LocalSimilarityClassifier", "ProxyIncrementalNet", "ScaledFrozenConv2d",
    "StrideShortcut", "build_backbone", "fold_batchnorm", "folded_copy", "make_stable", "mlp",
    "mlp_bn", "podnet_resnet18", "podnet_resnet32", "resnet18", "resnet32",
]
