"""ResNet backbones cut into levels, the unit AANets aggregates.

ResNet-32 follows the CIFAR variant used by LUCIR/AANets (3x3 stem, three stages of five
basic blocks, 1x1-conv shortcuts); ResNet-18 follows the ImageNet layout. In both, the last
block of the last stage skips its final ReLU so the feature can be negative, which the cosine
classifier and the less-forget loss rely on.
"""

from __future__ import annotations

from torch import Tensor, nn


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual; ``last=True`` drops the final ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, last: bool = False) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        self.last = last

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)) + identity
        return out if self.last else self.relu(out)


def _stage(in_planes: int, planes: int, blocks: int, stride: int, last: bool = False) -> list[nn.Module]:
    layers: list[nn.Module] = [BasicBlock(in_planes, planes, stride)]
    for i in range(1, blocks):
        layers.append(BasicBlock(planes, planes, last=last and i == blocks - 1))
    return layers


class Backbone(nn.Module):
    """A feature extractor made of sequential levels; the last level ends in pooling.

    ``input_norm`` (e.g. ``augment.InputNormalization``) runs first, so the network can take
    raw uint8 batches and normalise them on its own device."""

    def __init__(self, levels: list[nn.Sequential], out_dim: int,
                 input_norm: nn.Module | None = None) -> None:
        super().__init__()
        self.input_norm = input_norm
        self.levels = nn.ModuleList(levels)
        self.out_dim = out_dim
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        if self.input_norm is not None:
            x = self.input_norm(x)
        for level in self.levels:
            x = level(x)
        return x


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _pool() -> list[nn.Module]:
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]


def resnet32(in_channels: int = 3, input_norm: nn.Module | None = None) -> Backbone:
    """ResNet-32 for 32x32 input (also runs on 28x28 and 8x8); 3 levels, 64-d feature."""
    blocks = 5
    level1 = nn.Sequential(
        _conv3x3(in_channels, 16), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
        *_stage(16, 16, blocks, stride=1),
    )
    level2 = nn.Sequential(*_stage(16, 32, blocks, stride=2))
    level3 = nn.Sequential(*_stage(32, 64, blocks, stride=2, last=True), *_pool())
    return Backbone([level1, level2, level3], out_dim=64, input_norm=input_norm)


def resnet18(in_channels: int = 3, small_input: bool = False,
             input_norm: nn.Module | None = None) -> Backbone:
    """ResNet-18; 4 levels, 512-d feature. ``small_input`` swaps the 7x7/maxpool stem for a 3x3 conv."""
    if small_input:
        stem: list[nn.Module] = [_conv3x3(in_channels, 64), nn.BatchNorm2d(64), nn.ReLU(inplace=True)]
    else:
        stem = [
            nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        ]
    levels = [
        nn.Sequential(*stem, *_stage(64, 64, 2, stride=1)),
        nn.Sequential(*_stage(64, 128, 2, stride=2)),
        nn.Sequential(*_stage(128, 256, 2, stride=2)),
        nn.Sequential(*_stage(256, 512, 2, stride=2, last=True), *_pool()),
    ]
    return Backbone(levels, out_dim=512, input_norm=input_norm)


BACKBONES = {"resnet32": resnet32, "resnet18": resnet18}
# backbones whose first layer is sized by the input (the MLPs): their factory takes input_side
SIZED_BY_INPUT: set[str] = set()


def build_backbone(name: str, in_channels: int = 3, *, input_side: int | None = None,
                   **kwargs) -> Backbone:
    """Backbone by name; raises ValueError listing the valid names. ``input_side``: the images'
    side in pixels, passed to the backbones sized by it (required for them, unused by the rest)."""
    try:
        factory = BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}") from None
    if name in SIZED_BY_INPUT:
        if input_side is None:
            raise ValueError(f"backbone {name!r} is sized by its input: give input_side")
        kwargs["input_side"] = input_side
    return factory(in_channels, **kwargs)


__all__ = ["Backbone", "BasicBlock", "SIZED_BY_INPUT", "build_backbone", "resnet18", "resnet32"]
