"""Feature extraction shared by herding, imprinting, NME and the distillation losses.

Accepts both shapes of model the contract allows (contract.py): ``.features(x)`` (ours) or a
``.feature_extractor`` module (Avalanche's), each with a ``.classifier`` that reads the feature.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from .contract import ModelContractError, feature_members_missing


def feature_fn(model: nn.Module) -> Callable[[Tensor], Tensor]:
    """The function x -> feature of ``model``: its ``features`` method, else its
    ``feature_extractor`` module (Avalanche style)."""
    features = getattr(model, "features", None)
    if callable(features):
        return features
    extractor = getattr(model, "feature_extractor", None)
    if extractor is not None:
        return extractor
    raise ModelContractError(
        f"{type(model).__name__} exposes no feature; lacks: "
        f"{', '.join(feature_members_missing(model))}"
    )


def classifier_num_classes(classifier: nn.Module) -> int:
    """How many classes a classifier scores now: ``num_classes`` (ours), ``out_features``
    (nn.Linear) or its inner ``classifier.out_features`` (Avalanche's IncrementalClassifier)."""
    for holder in (classifier, getattr(classifier, "classifier", None)):
        for name in ("num_classes", "out_features"):
            value = getattr(holder, name, None)
            if isinstance(value, int):
                return value
    raise ModelContractError(
        f"cannot tell how many classes {type(classifier).__name__} has: give it a num_classes "
        "or out_features attribute"
    )


FLIPS = ("horizontal", "channels", "none")


@torch.no_grad()
def extract_features(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 100,
    device: torch.device | str = "cpu",
    with_flip: bool = False,
    num_workers: int = 0,
    flip: str = "horizontal",
) -> tuple[Tensor, Tensor]:
    """Backbone features of every sample (eval mode, dataset order) and their labels.

    With ``with_flip`` also returns, stacked behind, the features of each image's ``flip``:
    "horizontal" mirrors NCHW input along its width (a real flip); "channels" reverses the
    colour channels, what the reference's CIFAR code does by mistake; "none" repeats the
    unflipped features, what the reference's ImageNet code does.
    """
    if flip not in FLIPS:
        raise ValueError(f"flip must be one of {FLIPS}, got {flip!r}")
    features_of = feature_fn(model)
    was_training = model.training
    model.eval()
    feats: list[Tensor] = []
    flipped: list[Tensor] = []
    labels: list[Tensor] = []
    try:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
        for batch in loader:
            x = batch[0].to(device, non_blocking=True)
            feats.append(features_of(x).float().cpu())
            if with_flip and flip == "none":
                flipped.append(feats[-1])
            elif with_flip:
                dims = [-1] if flip == "horizontal" else [1]
                flipped.append(features_of(torch.flip(x, dims=dims)).float().cpu())
            labels.append(torch.as_tensor(batch[1]).cpu())
    finally:
        model.train(was_training)
    out = torch.cat(feats) if feats else torch.empty(0, 0)
    if with_flip and flipped:
        out = torch.cat([out, torch.cat(flipped)])
    return out, torch.cat(labels) if labels else torch.empty(0, dtype=torch.long)


class ClassifierInputCapture:
    """Keeps the last input of ``model.classifier`` (the backbone feature) via a pre-hook.

    Lets a plugin reuse the feature of the strategy's own forward pass instead of running the
    backbone twice.
    """

    def __init__(self) -> None:
        self.features: Tensor | None = None
        self._handle: Any = None

    def attach(self, model: nn.Module) -> None:
        self.detach()
        self._handle = model.classifier.register_forward_pre_hook(self._hook)

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
        self._handle = None
        self.features = None

    def _hook(self, module: nn.Module, args: tuple[Tensor, ...]) -> None:
        self.features = args[0]


__all__ = ["FLIPS", "ClassifierInputCapture", "classifier_num_classes", "extract_features",
           "feature_fn"]
