"""PODNet's local-similarity classifier (LSC): several proxies per class.

Features and proxies are L2-normalised; a feature's similarity to a proxy is minus their squared
Euclidean distance (2 cos - 2, in -4..0). A class's logit is the softmax-weighted sum of its
proxies' similarities, so a class can cover several modes of its data. The logits are unscaled:
the learned scale lives here (``scale``) but only the NCA loss applies it, as in the reference,
so evaluation (argmax) does not depend on it.

Old-class proxies are kept apart (``old_proxies``) and frozen during a phase's main training;
the balanced fine-tuning plugin unfreezes them for its own pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..precision import full_precision
from .incremental import IncrementalNet


def proxy_similarities(features: Tensor, proxies: Tensor) -> Tensor:
    """-||f/|f| - p/|p|||^2 for every feature x proxy pair: [B, P], values in [-4, 0]; in fp32,
    even inside bf16 autocast."""
    with full_precision(features):
        cosine = F.normalize(features.float(), dim=1) @ F.normalize(proxies.float(), dim=1).T
    return -(2 - 2 * cosine).clamp(min=0)


def kmeans_centres(features: Tensor, k: int, seed: int) -> Tensor:
    """k-means centres of ``features`` (rows), deterministic for a seed (scikit-learn, 10 inits).

    With fewer than k rows, the rows themselves are used, cycled to k.
    """
    if features.shape[0] == 0:
        raise ValueError("cannot imprint a class without any training sample")
    if features.shape[0] <= k:
        reps = -(-k // features.shape[0])
        return features.repeat(reps, 1)[:k].clone()
    from sklearn.cluster import KMeans

    data = features.detach().double().cpu().numpy()
    centres = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(data).cluster_centers_
    return torch.as_tensor(centres, dtype=features.dtype)


class LocalSimilarityClassifier(nn.Module):
    """Incremental LSC: ``proxies_per_class`` proxies per class, contiguous per class."""

    def __init__(self, in_features: int, proxies_per_class: int = 10, gamma: float = 1.0,
                 init_scale: float = 1.0) -> None:
        super().__init__()
        if proxies_per_class < 1:
            raise ValueError(f"proxies_per_class must be at least 1, got {proxies_per_class}")
        self.in_features = in_features
        self.proxies_per_class = proxies_per_class
        self.gamma = gamma
        self.old_proxies = nn.Parameter(torch.empty(0, in_features), requires_grad=False)
        self.new_proxies = nn.Parameter(torch.empty(0, in_features))
        self.scale = nn.Parameter(torch.tensor(float(init_scale)))

    @property
    def num_old_classes(self) -> int:
        return self.old_proxies.shape[0] // self.proxies_per_class

    @property
    def num_classes(self) -> int:
        return (self.old_proxies.shape[0] + self.new_proxies.shape[0]) // self.proxies_per_class

    def all_proxies(self) -> Tensor:
        return torch.cat([self.old_proxies, self.new_proxies], dim=0)

    def forward(self, features: Tensor) -> Tensor:
        sims = proxy_similarities(features, self.all_proxies())
        sims = sims.view(features.shape[0], -1, self.proxies_per_class)
        weights = torch.softmax(self.gamma * sims, dim=-1)
        return (sims * weights).sum(dim=-1)

    def add_classes(self, num_new: int, init_proxies: Tensor | None = None) -> None:
        """Freeze every current proxy and append ``num_new`` classes of trainable ones
        (Kaiming-normal unless ``init_proxies`` [num_new * K, D] is given)."""
        device = self.new_proxies.device
        rows = num_new * self.proxies_per_class
        old = torch.cat([self.old_proxies, self.new_proxies], dim=0).detach()
        self.old_proxies = nn.Parameter(old, requires_grad=False)
        if init_proxies is None:
            init_proxies = torch.empty(rows, self.in_features, device=device)
            nn.init.kaiming_normal_(init_proxies, nonlinearity="linear")
        if init_proxies.shape != (rows, self.in_features):
            raise ValueError(f"init_proxies must have shape {(rows, self.in_features)}, "
                             f"got {tuple(init_proxies.shape)}")
        self.new_proxies = nn.Parameter(init_proxies.detach().clone().to(device))

    @torch.no_grad()
    def imprint_proxies(self, class_features: list[Tensor], seeds: list[int]) -> Tensor:
        """Proxies for new classes: k-means (k = proxies per class, one seed per class) on the
        class's L2-normalised features; centres normalised, then scaled to the mean norm of
        the existing proxies (1 when there are none)."""
        existing = self.all_proxies()
        norm = existing.norm(dim=1).mean().item() if existing.shape[0] else 1.0
        rows = []
        for feats, seed in zip(class_features, seeds, strict=True):
            centres = kmeans_centres(F.normalize(feats.float(), dim=1), self.proxies_per_class, seed)
            rows.append(F.normalize(centres, dim=1) * norm)
        return torch.cat(rows, dim=0)


class ProxyIncrementalNet(IncrementalNet):
    """Backbone + local-similarity classifier; ``features`` is the pooled vector before any
    final activation (what the LSC, POD-flat, herding and NME use)."""

    def __init__(self, backbone: nn.Module, proxies_per_class: int = 10) -> None:
        super().__init__(backbone, LocalSimilarityClassifier(backbone.out_dim, proxies_per_class))


__all__ = ["LocalSimilarityClassifier", "ProxyIncrementalNet", "kmeans_centres", "proxy_similarities"]
