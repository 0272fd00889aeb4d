"""PODNet's pooled-output distillation (Douillard et al., ECCV 2020).

From the second experience on, adds to the loss
  w_spatial * POD-spatial(level maps of the current vs the previous network)
  + w_flat * POD-flat(final embedding of the current vs the previous network),
with w = factor * sqrt(classes seen including this phase / new classes of this phase). On an
AggregatedBackbone (POD + AANets) both terms read the MIXED maps and the mixed embedding, never
a single branch's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..levels import LevelOutputCapture
from ..validation import check_real
from .lucir import less_forget_loss
from .previous_model import PreviousModelDistillation


def podnet_weight(factor: float, num_seen: int, num_new: int) -> float:
    """factor * sqrt(seen / new): distillation grows as the new share of the classes shrinks."""
    return factor * math.sqrt(num_seen / num_new)


def pod_spatial_pooling(level_map: Tensor) -> Tensor:
    """Square, sum over width (B x C x H) and over height (B x C x W), flatten, concatenate,
    L2-normalise per sample: [B, C * (H + W)]. In fp32 (a bf16 map is cast up: the loss is a
    small difference between two such descriptors)."""
    squared = level_map.float().pow(2)
    pooled = torch.cat([squared.sum(dim=3).flatten(1), squared.sum(dim=2).flatten(1)], dim=1)
    return F.normalize(pooled, dim=1)


def pod_spatial_loss(new_maps: list[Tensor], old_maps: list[Tensor]) -> Tensor:
    """Per level: mean over the batch of the L2 distance between the pooled descriptors; then
    the mean over levels. The old maps are constants."""
    if len(new_maps) != len(old_maps) or not new_maps:
        raise ValueError(f"POD-spatial needs as many old as new level maps (got {len(old_maps)} "
                         f"and {len(new_maps)})")
    per_level = [
        (pod_spatial_pooling(new) - pod_spatial_pooling(old.detach())).norm(dim=1).mean()
        for new, old in zip(new_maps, old_maps)
    ]
    return torch.stack(per_level).mean()


def pod_flat_loss(features: Tensor, old_features: Tensor) -> Tensor:
    """Mean over the batch of 1 - cos(new, old final embedding): LUCIR's less-forget term."""
    return less_forget_loss(features, old_features)


class PODDistillationPlugin(PreviousModelDistillation):
    """POD-spatial + POD-flat against the network of the previous experience.

    Needs a model with ``.backbone`` (levels, see models/resnet.py, or an AggregatedBackbone),
    ``.classifier`` (whose input is the final embedding) and ``.features``.
    """

    def __init__(self, spatial_factor: float = 3.0, flat_factor: float = 1.0) -> None:
        super().__init__()
        self.spatial_factor = check_real("spatial_factor", spatial_factor, low=0)
        self.flat_factor = check_real("flat_factor", flat_factor, low=0)
        self.spatial_weight = 0.0
        self.flat_weight = 0.0
        self.new_levels = LevelOutputCapture()
        self.old_levels = LevelOutputCapture()

    def before_training_exp(self, strategy, **kwargs) -> None:
        super().before_training_exp(strategy, **kwargs)
        if self.old_model is None:
            return
        self.new_levels.attach(strategy.model.backbone)
        self.old_levels.attach(self.old_model.backbone)
        num_seen = strategy.model.classifier.num_classes
        num_new = max(1, num_seen - self.num_old_classes)  # retraining known classes: as one new
        self.spatial_weight = podnet_weight(self.spatial_factor, num_seen, num_new)
        self.flat_weight = podnet_weight(self.flat_factor, num_seen, num_new)

    def after_training_exp(self, strategy, **kwargs) -> None:
        self.new_levels.detach()  # before the snapshot: the copy must not carry our hooks
        self.old_levels.detach()
        super().after_training_exp(strategy, **kwargs)

    def distillation_loss(self, strategy, features: Tensor) -> Tensor:
        with torch.no_grad():
            old_features = self.old_model.features(strategy.mb_x)
        loss = features.new_zeros(())
        if self.flat_weight:
            loss = loss + self.flat_weight * pod_flat_loss(features, old_features)
        if self.spatial_weight:
            loss = loss + self.spatial_weight * pod_spatial_loss(self.new_levels.maps(),
                                                                 self.old_levels.maps())
        return loss


__all__ = ["PODDistillationPlugin", "pod_flat_loss", "pod_spatial_loss", "pod_spatial_pooling",
           "podnet_weight"]
