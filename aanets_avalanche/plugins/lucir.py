"""LUCIR distillation (Hou et al. 2019): less-forget feature term and margin ranking."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..contract import require_cosine_head
from ..features import classifier_num_classes, feature_fn
from ..validation import check_int, check_real
from .previous_model import PreviousModelDistillation


def lucir_lambda(lambda_base: float, num_old: int, num_new: int) -> float:
    """Adaptive less-forget weight lambda_base * sqrt(old / new)."""
    return lambda_base * math.sqrt(num_old / num_new)


def less_forget_loss(features: Tensor, old_features: Tensor) -> Tensor:
    """Mean over the batch of 1 - cos(f(x), f_old(x)); the old feature is a constant. In fp32
    (bf16 features of an autocast forward are cast up)."""
    return (1 - F.cosine_similarity(features.float(), old_features.detach().float(), dim=1)).mean()


def margin_ranking_loss(cosines: Tensor, targets: Tensor, num_old: int, margin: float, k: int) -> Tensor:
    """For old-class samples, the ground-truth cosine must beat each of the top-K new-class
    cosines by ``margin``; K is capped at the number of new classes. Mean over pairs."""
    num_new = cosines.shape[1] - num_old
    k = min(k, num_new)
    old_mask = targets < num_old
    if k <= 0 or not bool(old_mask.any()):
        return cosines.new_zeros(())
    cos_old = cosines[old_mask]
    gt = cos_old.gather(1, targets[old_mask].unsqueeze(1))  # [n, 1]
    hard_negatives = cos_old[:, num_old:].topk(k, dim=1).values  # [n, k]
    return F.relu(margin - gt + hard_negatives).mean()


class LUCIRDistillationPlugin(PreviousModelDistillation):
    """Adds lambda_i * less-forget + w * margin-ranking to the loss from the second experience on."""

    def __init__(self, lambda_base: float = 5.0, margin: float = 0.5, k: int = 2,
                 ranking_weight: float = 1.0) -> None:
        super().__init__()
        self.lambda_base = check_real("lambda_base", lambda_base, low=0)
        self.margin = check_real("margin", margin, low=0)
        self.k = check_int("k", k, low=1)
        self.ranking_weight = check_real("ranking_weight", ranking_weight, low=0)
        self.current_lambda = 0.0

    def before_training(self, strategy, **kwargs) -> None:
        require_cosine_head(strategy.model, type(self).__name__)  # margin ranking is on cosines

    def before_training_exp(self, strategy, **kwargs) -> None:
        super().before_training_exp(strategy, **kwargs)
        if self.old_model is not None:
            # retraining on known classes only: treat as one new class rather than divide by 0
            num_new = max(1, classifier_num_classes(strategy.model.classifier) - self.num_old_classes)
            self.current_lambda = lucir_lambda(self.lambda_base, self.num_old_classes, num_new)

    def distillation_loss(self, strategy, features: Tensor) -> Tensor:
        with torch.no_grad():
            old_features = feature_fn(self.old_model)(strategy.mb_x)
        loss = self.current_lambda * less_forget_loss(features, old_features)
        if self.ranking_weight:
            cosines = strategy.model.classifier.cosine(features)
            loss = loss + self.ranking_weight * margin_ranking_loss(
                cosines, strategy.mb_y, self.num_old_classes, self.margin, self.k
            )
        return loss


__all__ = ["LUCIRDistillationPlugin", "less_forget_loss", "lucir_lambda", "margin_ranking_loss"]
