"""Avalanche plugins that make up AANets; each works on its own with other strategies."""

from .aggregation import AggregationUpdatePlugin
from .herding import HerdingMemoryPlugin, herding_order, herding_order_reference
from .icarl import ICaRLDistillationPlugin, icarl_kd_loss
from .lucir import LUCIRDistillationPlugin, less_forget_loss, lucir_lambda, margin_ranking_loss
from .previous_model import PreviousModelDistillation, frozen_copy

__all__ = [
    "AggregationUpdatePlugin", "HerdingMemoryPlugin", "ICaRLDistillationPlugin", "LUCIRDistillationPlugin",
    "PreviousModelDistillation", "frozen_copy", "herding_order", "herding_order_reference",
    "icarl_kd_loss", "less_forget_loss", "lucir_lambda", "margin_ranking_loss",
]
