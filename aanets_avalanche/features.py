"""Feature extraction shared by herding, imprinting, NME and the distillation losses."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

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
    was_training = model.training
    model.eval()
    feats: list[Tensor] = []
    flipped: list[Tensor] = []
    labels: list[Tensor] = []
    try:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
        for batch in loader:
            x = batch[0].to(device, non_blocking=True)
            feats.append(model.features(x).float().cpu())
            if with_flip and flip == "none":
                flipped.append(feats[-1])
            elif with_flip:
                dims = [-1] if flip == "horizontal" else [1]
                flipped.append(model.features(torch.flip(x, dims=dims)).float().cpu())
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


__all__ = ["FLIPS", "ClassifierInputCapture", "extract_features"]
