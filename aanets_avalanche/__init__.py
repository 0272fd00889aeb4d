"""AANets (Adaptive Aggregation Networks, CVPR 2021) for Avalanche: models, plugins, strategies
(AANets on LUCIR / iCaRL, and PODNet with or without AANets)."""

from .metrics import nme_accuracy_metrics
from .models import (AggregatedBackbone, CosineIncrementalNet, LocalSimilarityClassifier, ProxyIncrementalNet,
                     build_backbone, resnet18, resnet32)
from .podnet import PODNetStrategy
from .strategy import AANetsStrategy, default_aanets_evaluator

__version__ = "0.1.0"

__all__ = [
    "AANetsStrategy", "AggregatedBackbone", "CosineIncrementalNet", "LocalSimilarityClassifier",
    "PODNetStrategy", "ProxyIncrementalNet", "build_backbone", "default_aanets_evaluator",
    "nme_accuracy_metrics", "resnet18", "resnet32",
]
