"""Exemplar memory chosen by herding (iCaRL), with NME class means.

The memory stores indices into each experience's dataset (raw images), so replayed
exemplars go through the train augmentation like any other sample.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from avalanche.benchmarks.utils import AvalancheDataset
from avalanche.core import SupervisedPlugin
from torch import Tensor

from ..contract import require_feature_model
from ..features import FLIPS, extract_features
from ..validation import check_int, memory_budget


def herding_order(features: Tensor, count: int) -> Tensor:
    """Greedy herding: indices of ``count`` rows, best first.

    At step k it adds the row that brings the mean of the k chosen rows closest (Euclidean)
    to the mean of all rows; a row is never chosen twice; ties go to the lowest index.
    ``features`` should already be L2-normalised.
    """
    n = features.shape[0]
    count = min(count, n)
    target = features.mean(dim=0)
    chosen_sum = torch.zeros_like(target)
    available = torch.ones(n, dtype=torch.bool, device=features.device)
    order: list[int] = []
    for k in range(1, count + 1):
        distances = ((chosen_sum + features) / k - target).norm(dim=1)
        distances[~available] = math.inf
        pick = int(torch.argmin(distances))
        order.append(pick)
        available[pick] = False
        chosen_sum += features[pick]
    return torch.tensor(order, dtype=torch.long)


REFERENCE_HERDING_CAP = 1000       # iterations (argmax steps), picks or not
REFERENCE_DICTIONARY_SIZE = 500    # the reference never keeps more than this many per class


def herding_order_reference(features: Tensor, count: int,
                            max_iterations: int = REFERENCE_HERDING_CAP) -> Tensor:
    """Herding as the AANets/LUCIR reference code runs it (Welling's update), best first.

    w starts at the class mean mu; each step picks argmax_i <w, x_i> and sets w += mu - x_i,
    whether or not x_i was already chosen (a repeat adds nothing). It stops after ``count``
    distinct picks (at most 500) or ``max_iterations`` steps, so it may return fewer than
    ``count`` rows. ``features`` should already be L2-normalised.
    """
    count = min(count, features.shape[0], REFERENCE_DICTIONARY_SIZE)
    mu = features.mean(dim=0)
    w = mu.clone()
    chosen = torch.zeros(features.shape[0], dtype=torch.bool, device=features.device)
    order: list[int] = []
    for _ in range(max_iterations):
        if len(order) >= count:
            break
        pick = int(torch.argmax(features @ w))
        if not chosen[pick]:
            chosen[pick] = True
            order.append(pick)
        w += mu - features[pick]
    return torch.tensor(order, dtype=torch.long)


HERDINGS = ("greedy", "reference")


class HerdingMemoryPlugin(SupervisedPlugin):
    """Class-balanced exemplar memory filled by herding after each experience.

    Budget: ``memory_per_class`` exemplars for every class seen (the paper's setting; 20 when
    neither is given), or a fixed ``memory_total`` shared evenly, ceil(total / classes seen) per class. Shrinking a
    class keeps its best-ranked exemplars. Exemplars join the training data of later
    experiences. After each experience it also computes the NME class means.

    ``herding``: "greedy" (herding_order, never short of the budget) or "reference"
    (herding_order_reference: the reference code's Welling update and iteration cap).
    ``nme_flip``: the second view averaged into each class mean, see extract_features
    ("horizontal"; "channels" / "none" reproduce the reference on CIFAR / ImageNet).
    """

    def __init__(
        self,
        memory_per_class: int | None = None,
        memory_total: int | None = None,
        batch_size: int = 100,
        num_workers: int = 0,
        herding: str = "greedy",
        nme_flip: str = "horizontal",
    ) -> None:
        super().__init__()
        if herding not in HERDINGS:
            raise ValueError(f"herding must be one of {HERDINGS}, got {herding!r}")
        if nme_flip not in FLIPS:
            raise ValueError(f"nme_flip must be one of {FLIPS}, got {nme_flip!r}")
        self.herding = herding
        self.nme_flip = nme_flip
        self.memory_per_class, self.memory_total = memory_budget(memory_per_class, memory_total)
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self.num_workers = check_int("num_workers", num_workers, low=0)
        self.ranked: dict[int, Tensor] = {}
        self.sources: dict[int, AvalancheDataset] = {}
        self.class_means: Tensor | None = None
        self.mean_labels: Tensor | None = None

    # -- budget and datasets -------------------------------------------------------------
    def budget_per_class(self, num_classes: int) -> int:
        if self.memory_per_class is not None:
            return self.memory_per_class
        return math.ceil(self.memory_total / max(num_classes, 1))

    @property
    def seen_classes(self) -> list[int]:
        return sorted(self.ranked)

    def class_dataset(self, label: int) -> AvalancheDataset:
        return self.sources[label].subset(self.ranked[label].tolist())

    def memory_dataset(self) -> AvalancheDataset | None:
        """All exemplars as one dataset (None while empty), train augmentation on."""
        parts = [self.class_dataset(c) for c in self.seen_classes]
        if not parts:
            return None
        memory = parts[0]
        for part in parts[1:]:
            memory = memory.concat(part)
        return memory.train()

    def __len__(self) -> int:
        return sum(len(idx) for idx in self.ranked.values())

    # -- Avalanche callbacks ---------------------------------------------------------------
    def before_training(self, strategy, **kwargs) -> None:
        require_feature_model(strategy.model, type(self).__name__)

    def after_train_dataset_adaptation(self, strategy, **kwargs) -> None:
        memory = self.memory_dataset()
        if memory is not None:
            strategy.adapted_dataset = strategy.adapted_dataset.concat(memory).train()

    def after_training_exp(self, strategy, **kwargs) -> None:
        dataset = strategy.experience.dataset
        feats, labels = extract_features(
            strategy.model, dataset.eval(), batch_size=self.batch_size, device=strategy.device,
            num_workers=self.num_workers,
        )
        feats = F.normalize(feats, dim=1)
        new_classes = sorted(int(c) for c in labels.unique())
        budget = self.budget_per_class(len(set(self.ranked) | set(new_classes)))
        for label in new_classes:
            idx = torch.nonzero(labels == label).flatten()
            select = herding_order_reference if self.herding == "reference" else herding_order
            self.ranked[label] = idx[select(feats[idx], budget)]
            self.sources[label] = dataset
        for label in self.ranked:
            self.ranked[label] = self.ranked[label][:budget]
        self.update_class_means(strategy.model, strategy.device)

    # -- NME ----------------------------------------------------------------------------------
    @torch.no_grad()
    def update_class_means(self, model, device) -> None:
        """Class mean = normalised mean of the normalised features of each exemplar and its flip
        (``nme_flip``)."""
        memory = self.memory_dataset()
        if memory is None:
            return
        feats, labels = extract_features(
            model, memory.eval(), batch_size=self.batch_size, device=device, with_flip=True,
            num_workers=self.num_workers, flip=self.nme_flip,
        )
        feats = F.normalize(feats, dim=1)
        labels = torch.cat([labels, labels])
        classes = torch.tensor(self.seen_classes, dtype=torch.long)
        means = torch.stack([feats[labels == c].mean(dim=0) for c in classes.tolist()])
        # kept on the model's device so per-batch NME prediction moves nothing
        self.class_means = F.normalize(means, dim=1).to(device)
        self.mean_labels = classes.to(device)

    def nme_predict(self, features: Tensor) -> Tensor:
        """Label of the nearest class mean to each L2-normalised feature."""
        if self.class_means is None or self.mean_labels is None:
            raise RuntimeError("NME needs class means: train on at least one experience first")
        means = self.class_means.to(features.device)
        # nearest in Euclidean distance == largest dot product, as both sides are unit vectors
        scores = F.normalize(features.float(), dim=1) @ means.T
        return self.mean_labels.to(features.device)[scores.argmax(dim=1)]


__all__ = ["HERDINGS", "HerdingMemoryPlugin", "herding_order", "herding_order_reference"]
