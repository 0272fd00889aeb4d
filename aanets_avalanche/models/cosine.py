"""Cosine incremental classifier (LUCIR): one weight vector per class and a shared scale sigma.

Weights of classes from earlier phases live in a buffer, so they cannot change (the spec's
"learning rate 0") and no optimizer or weight decay can touch them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..precision import full_precision
from .incremental import IncrementalNet


class CosineClassifier(nn.Module):
    """logits = sigma * cos(feature, w_c) over every class added so far."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.register_buffer("old_weight", torch.empty(0, in_features))
        self.weight = nn.Parameter(torch.empty(0, in_features))
        self.sigma = nn.Parameter(torch.tensor(1.0))

    @property
    def num_old_classes(self) -> int:
        return self.old_weight.shape[0]

    @property
    def num_classes(self) -> int:
        return self.old_weight.shape[0] + self.weight.shape[0]

    def all_weights(self) -> Tensor:
        return torch.cat([self.old_weight, self.weight], dim=0)

    def cosine(self, features: Tensor) -> Tensor:
        """Cosines in fp32, even inside bf16 autocast (a small product; logits and losses keep
        fp32's resolution of the margins)."""
        with full_precision(features):
            return F.linear(F.normalize(features.float(), dim=1),
                            F.normalize(self.all_weights().float(), dim=1))

    def forward(self, features: Tensor) -> Tensor:
        return self.sigma * self.cosine(features)

    def add_classes(self, num_new: int, init_weights: Tensor | None = None) -> None:
        """Freeze every current class and append ``num_new`` trainable ones."""
        device = self.weight.device
        self.old_weight = torch.cat([self.old_weight, self.weight.detach()], dim=0)
        if init_weights is None:
            stdv = 1.0 / math.sqrt(self.in_features)
            init_weights = torch.empty(num_new, self.in_features, device=device).uniform_(-stdv, stdv)
        if init_weights.shape != (num_new, self.in_features):
            raise ValueError(
                f"init_weights must have shape {(num_new, self.in_features)}, got {tuple(init_weights.shape)}"
            )
        self.weight = nn.Parameter(init_weights.detach().clone().to(device))

    def imprint_weights(self, class_features: list[Tensor]) -> Tensor:
        """New-class weights from features (imprinting): normalised mean of normalised features,
        rescaled to the mean norm of the existing weights (1 when there are none)."""
        existing = self.all_weights()
        scale = existing.norm(dim=1).mean() if existing.shape[0] > 0 else torch.tensor(1.0)
        rows = [F.normalize(F.normalize(f, dim=1).mean(dim=0), dim=0) for f in class_features]
        return torch.stack(rows) * scale.to(rows[0].device)


class CosineIncrementalNet(IncrementalNet):
    """Backbone + cosine classifier (LUCIR / iCaRL / AANets)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__(backbone, CosineClassifier(backbone.out_dim))


__all__ = ["CosineClassifier", "CosineIncrementalNet"]
