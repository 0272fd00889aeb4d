"""Avalanche plugins that make up AANets and PODNet; each works on its own with other strategies."""

from .aggregation import AggregationUpdatePlugin
from .finetune import BalancedFinetunePlugin, clamp_gradients_
from .herding import HerdingMemoryPlugin, herding_order, herding_order_reference
from .icarl import ICaRLDistillationPlugin, icarl_kd_loss
from .lucir import LUCIRDistillationPlugin, less_forget_loss, lucir_lambda, margin_ranking_loss
from .pod import PODDistillationPlugin, pod_flat_loss, pod_spatial_loss, podnet_weight
from .previous_model import PreviousModelDistillation, frozen_copy

__all__ = [
    "AggregationUpdatePlugin", "BalancedFinetunePlugin", "HerdingMemoryPlugin", "ICaRLDistillationPlugin",
    "LUCIRDistillationPlugin", "PODDistillationPlugin", "PreviousModelDistillation", "clamp_gradients_",
    "frozen_copy", "herding_order", "herding_order_reference", "icarl_kd_loss", "less_forget_loss",
    "lucir_lambda", "margin_ranking_loss", "pod_flat_loss", "pod_spatial_loss", "podnet_weight",
]
