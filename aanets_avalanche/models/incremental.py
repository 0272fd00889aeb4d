"""Backbone + growing classifier: the model shape every strategy of the library trains."""

from __future__ import annotations

from torch import Tensor, nn


class IncrementalNet(nn.Module):
    """``backbone`` then ``classifier``; ``features`` exposes the penultimate vector (what
    imprinting, herding, NME and the distillation terms read). Subclasses pick the classifier."""

    def __init__(self, backbone: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier

    @property
    def out_dim(self) -> int:
        return self.classifier.in_features

    def features(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.backbone(x))


__all__ = ["IncrementalNet"]
