"""Batched training augmentation on the training device, once per mini-batch.

The per-sample torchvision path (a Compose run by the DataLoader for every image) costs Python
time per image, which a GPU would spend waiting. Here a whole mini-batch is cropped, flipped
and colour-jittered with a handful of tensor operations on whatever device it lives on:

- ``random_crop_flip``: zero padding + a random crop of the original size + a horizontal flip
  with probability 1/2, as ``RandomCrop(size, padding=p)`` + ``RandomHorizontalFlip()`` draw
  them (every offset in 0..2p with equal probability), fused into one gather;
- ``color_jitter``: brightness / contrast / saturation factors drawn per image as torchvision's
  ``ColorJitter`` draws them; the order of the three is drawn once per batch (torchvision: per
  image);
- ``InputNormalization``: the model's first layer, uint8 (0..255) or float (0..1) input ->
  ``(x - mean) / std``. Living in the model, it normalises every forward pass (evaluation,
  imprinting, herding, NME, and the passes Avalanche's baselines make inside their own
  plugins) without any of them knowing about it;
- ``BatchAugmentPlugin``: an Avalanche plugin that augments ``strategy.mbatch[0]`` before every
  training forward pass (level 1, with the exemplars replayed in the same batch), so it works
  for any SupervisedTemplate; ``AggregationUpdatePlugin`` is handed the same augmentation for
  the level-2 balanced set.

Augmentation keeps the input's dtype (uint8 stays uint8, as torchvision does on uint8 images),
so a batch can be joined with un-augmented samples of the same dtype. Randomness comes from
``generator`` when given, else from torch's global generator of the batch's device (which the
harness seeds and checkpoints).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from avalanche.core import SupervisedPlugin
from torch import Tensor, nn


def _randint(high: int, size: int, device: torch.device, generator: torch.Generator | None) -> Tensor:
    return torch.randint(0, high, (size,), device=device, generator=generator)


def _rand(size: int, device: torch.device, generator: torch.Generator | None) -> Tensor:
    return torch.rand(size, device=device, generator=generator)


def random_crop_flip(images: Tensor, padding: int, *, flip: bool = True,
                     generator: torch.Generator | None = None) -> Tensor:
    """Pad every image of ``images`` [B, C, H, W] by ``padding`` zeros on each side, crop a
    random H x W window (offsets uniform in 0..2*padding per axis), then mirror it with
    probability 1/2 when ``flip``. One gather for the whole batch; dtype is kept."""
    if images.dim() != 4:
        raise ValueError(f"expected a batch [B, C, H, W], got shape {tuple(images.shape)}")
    batch, channels, height, width = images.shape
    device = images.device
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if padding == 0 and not flip:
        return images
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    padded_width = width + 2 * padding
    top = _randint(2 * padding + 1, batch, device, generator)
    left = _randint(2 * padding + 1, batch, device, generator)
    rows = top[:, None] + torch.arange(height, device=device)  # [B, H]
    cols = left[:, None] + torch.arange(width, device=device)  # [B, W]
    if flip:
        mirrored = _rand(batch, device, generator) < 0.5
        cols = torch.where(mirrored[:, None], cols.flip(1), cols)
    index = (rows[:, :, None] * padded_width + cols[:, None, :]).reshape(batch, 1, height * width)
    flat = padded.reshape(batch, channels, -1)
    return flat.gather(2, index.expand(batch, channels, height * width)).reshape(images.shape)


def _factors(strength: float, batch: int, device: torch.device,
             generator: torch.Generator | None) -> Tensor:
    """Per-image factors uniform in [max(0, 1 - s), 1 + s], shaped to broadcast over [C, H, W]."""
    low, high = max(0.0, 1.0 - strength), 1.0 + strength
    return (low + (high - low) * _rand(batch, device, generator)).view(batch, 1, 1, 1)


def _grey(images: Tensor) -> Tensor:
    """ITU-R 601 luma, as torchvision's rgb_to_grayscale; grey images are returned as they are."""
    if images.shape[1] == 1:
        return images
    r, g, b = images.unbind(1)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


def color_jitter(images: Tensor, brightness: float = 0.0, contrast: float = 0.0,
                 saturation: float = 0.0, *, generator: torch.Generator | None = None) -> Tensor:
    """Random brightness, contrast and saturation per image (torchvision ColorJitter's draws and
    blends, values clamped to the image range); uint8 in -> uint8 out, truncated after every
    adjustment as torchvision does."""
    strengths = {"brightness": brightness, "contrast": contrast, "saturation": saturation}
    for name, value in strengths.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    active = [name for name, value in strengths.items() if value > 0]
    if not active:
        return images
    batch, device = images.shape[0], images.device
    integer = images.dtype == torch.uint8
    top = 255.0 if integer else 1.0
    x = images.float()
    order = _rand(len(active), device, generator).argsort().tolist()  # one order per batch
    for position in order:
        name = active[position]
        factor = _factors(strengths[name], batch, device, generator)
        if name == "brightness":
            x = x * factor
        elif name == "contrast":
            grey = _grey(x).floor() if integer and x.shape[1] > 1 else _grey(x)
            x = factor * x + (1 - factor) * grey.mean(dim=(1, 2, 3), keepdim=True)
        elif x.shape[1] > 1:  # saturation: blend with the grey image (no-op on grey input)
            grey = _grey(x).floor() if integer else _grey(x)
            x = factor * x + (1 - factor) * grey
        x = x.clamp_(0.0, top)
        if integer:  # torchvision returns uint8 after every adjustment
            x = x.floor_()
    return x.to(images.dtype) if integer else x


@dataclass(frozen=True)
class BatchAugmentation:
    """One training augmentation recipe, applied to a whole batch: crop with ``padding`` (0: no
    crop), horizontal flip, colour jitter strengths (0: off)."""

    padding: int = 0
    flip: bool = True
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        out = random_crop_flip(images, self.padding, flip=self.flip, generator=generator)
        return color_jitter(out, self.brightness, self.contrast, self.saturation, generator=generator)

    @property
    def is_identity(self) -> bool:
        return not (self.padding or self.flip or self.brightness or self.contrast or self.saturation)


class InputNormalization(nn.Module):
    """(x - mean) / std per channel; uint8 input is read as 0..255, float input as 0..1.

    Fused into one multiply-add on the device (uint8 -> float happens here, so batches travel
    to the GPU as bytes)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean and std need the same length, got {len(mean)} and {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive, got {list(std)}")
        mean_t = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        std_t = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.uint8:  # one new tensor, scaled and shifted in place
            return x.to(torch.float32).mul_(1.0 / (255.0 * self.std)).sub_(self.mean / self.std)
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class BatchAugmentPlugin(SupervisedPlugin):
    """Augments every training mini-batch in place (``strategy.mbatch[0]``) on the training
    device, before the forward pass; evaluation batches are left as they are.

    Works with any SupervisedTemplate whose replayed samples are part of the mini-batch when
    plugins run (AANets, Naive + ReplayPlugin, ICaRL, BiC; not the replay half of Avalanche's
    DER, which joins it after the plugins)."""

    def __init__(self, augmentation: BatchAugmentation) -> None:
        super().__init__()
        self.augmentation = augmentation

    def before_forward(self, strategy, **kwargs) -> None:
        strategy.mbatch[0] = self.augmentation(strategy.mbatch[0])


__all__ = ["BatchAugmentPlugin", "BatchAugmentation", "InputNormalization", "color_jitter",
           "random_crop_flip"]
