"""PODNet's backbones (Douillard et al., ECCV 2020), cut into levels like resnet.py's.

They differ from LUCIR's ResNet-32 / ResNet-18 in ways that change what POD distils, so the
PODNet methods use these (the spec's "faithful" choice):

* ``podnet_resnet32`` (PODNet's CIFAR "rebuffi" net): 3x3 stem, then four stages of 5, 5, 4 and
  1 basic blocks (16, 32, 64, 64 channels); no ReLU after any residual sum; parameter-free
  shortcuts when the size halves (every second pixel, new channels zero-padded); the last BN
  of every block starts at 0, so each block starts as the identity.
* ``podnet_resnet18`` (PODNet's ImageNet net): a 3x3 stride-1 stem conv (+ BN, ReLU, 3x3
  max-pool), four stages of two blocks; the second block of each stage has no ReLU after its
  sum; zero-initialised last BN per block.

Each stage is one level, the stem belongs to the first; the last level ends in global average
pooling (adaptive, so 28x28 and 8x8 inputs work too; the reference's fixed 8x8 pool equals it
on 32x32 CIFAR images).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .resnet import BACKBONES, Backbone, BasicBlock, _conv3x3, _pool


class StrideShortcut(nn.Module):
    """Shortcut without parameters: keep every second pixel, append as many zero channels."""

    def forward(self, x: Tensor) -> Tensor:
        x = x[..., ::2, ::2]
        return torch.cat([x, torch.zeros_like(x)], dim=1)


def _plain_block(planes: int) -> BasicBlock:
    """Same-size block without a ReLU after the sum."""
    return BasicBlock(planes, planes, last=True)


def _halving_block(in_planes: int) -> BasicBlock:
    """Block that halves the map and doubles the channels through a StrideShortcut."""
    block = BasicBlock(in_planes, 2 * in_planes, stride=2, last=True)
    block.downsample = StrideShortcut()
    return block


def _zero_last_bn(backbone: Backbone) -> Backbone:
    for module in backbone.modules():
        if isinstance(module, BasicBlock):
            nn.init.zeros_(module.bn2.weight)
    return backbone


def podnet_resnet32(in_channels: int = 3, input_norm: nn.Module | None = None) -> Backbone:
    """PODNet's CIFAR ResNet ("rebuffi", n=5); 4 levels, 64-d feature."""
    level1 = nn.Sequential(
        _conv3x3(in_channels, 16), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
        *(_plain_block(16) for _ in range(5)),
    )
    level2 = nn.Sequential(_halving_block(16), *(_plain_block(32) for _ in range(4)))
    level3 = nn.Sequential(_halving_block(32), *(_plain_block(64) for _ in range(3)))
    level4 = nn.Sequential(_plain_block(64), *_pool())
    return _zero_last_bn(Backbone([level1, level2, level3, level4], out_dim=64, input_norm=input_norm))


def _podnet18_stage(in_planes: int, planes: int, stride: int) -> list[nn.Module]:
    return [BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, last=True)]


def podnet_resnet18(in_channels: int = 3, input_norm: nn.Module | None = None) -> Backbone:
    """PODNet's ImageNet ResNet-18 (3x3 stride-1 stem + max-pool); 4 levels, 512-d feature."""
    stem = [_conv3x3(in_channels, 64), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1)]
    levels = [
        nn.Sequential(*stem, *_podnet18_stage(64, 64, 1)),
        nn.Sequential(*_podnet18_stage(64, 128, 2)),
        nn.Sequential(*_podnet18_stage(128, 256, 2)),
        nn.Sequential(*_podnet18_stage(256, 512, 2), *_pool()),
    ]
    return _zero_last_bn(Backbone(levels, out_dim=512, input_norm=input_norm))


__all__ = ["StrideShortcut", "podnet_resnet18", "podnet_resnet32"]


# registered beside LUCIR's backbones, so build_backbone("podnet-resnet32") works
BACKBONES.update({"podnet-resnet32": podnet_resnet32, "podnet-resnet18": podnet_resnet18})
