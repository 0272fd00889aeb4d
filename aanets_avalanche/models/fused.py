"""The fused forward of one AANets level: both branches as one network over concatenated channels.

A level's stable and plastic blocks have the same layout and read the same input. Fused, the
first convolution of both is one convolution with twice the output channels, every later
convolution is a grouped convolution (groups=2) over the channel-concatenated pair [stable |
plastic], and every BatchNorm / ReLU / pooling runs once over both halves. The parameters stay
where they are (the plain modules own them), so the fused and the plain forward compute the
same function, train the same parameters and share one state_dict: a checkpoint of either
form loads into the other.

Supported layers: the ones ResNet-32 / ResNet-18 levels are made of (Conv2d or
ScaledFrozenConv2d without bias, BatchNorm2d, ReLU, BasicBlock, MaxPool2d, AdaptiveAvgPool2d,
Flatten). ``supports_fused`` says whether a level qualifies; others run the plain forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .resnet import BasicBlock

_ELEMENTWISE = (nn.ReLU, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Flatten)


def _conv_weight(conv: nn.Module) -> Tensor:
    frozen = getattr(conv, "frozen_weight", None)
    return conv.weight if frozen is None else frozen * conv.scale


def _is_conv(module: nn.Module) -> bool:
    return isinstance(module, nn.Conv2d) or hasattr(module, "frozen_weight")


def _conv_ok(module: nn.Module) -> bool:
    if isinstance(module, nn.Conv2d):
        return module.bias is None and module.groups == 1 and module.padding_mode == "zeros"
    return hasattr(module, "frozen_weight") and module.groups == 1


def _pair_ok(stable: nn.Module, plastic: nn.Module) -> bool:
    if _is_conv(stable) and _is_conv(plastic):
        return _conv_ok(stable) and _conv_ok(plastic) and stable.stride == plastic.stride \
            and stable.padding == plastic.padding and stable.dilation == plastic.dilation
    if type(stable) is not type(plastic):
        return False
    if isinstance(stable, nn.BatchNorm2d):
        return stable.affine and stable.track_running_stats and stable.eps == plastic.eps \
            and stable.momentum == plastic.momentum and stable.momentum is not None
    if isinstance(stable, BasicBlock):
        parts = ["conv1", "bn1", "conv2", "bn2"]
        if (stable.downsample is None) != (plastic.downsample is None) or stable.last != plastic.last:
            return False
        pairs = [(getattr(stable, n), getattr(plastic, n)) for n in parts]
        if stable.downsample is not None:
            pairs += list(zip(stable.downsample, plastic.downsample))
        return all(_pair_ok(s, p) for s, p in pairs)
    if isinstance(stable, nn.Sequential):
        return len(stable) == len(plastic) and all(_pair_ok(s, p) for s, p in zip(stable, plastic))
    return isinstance(stable, _ELEMENTWISE)


def supports_fused(stable: nn.Module, plastic: nn.Module) -> bool:
    """True when the two branches of a level are made only of layers the fused forward knows."""
    return _pair_ok(stable, plastic)


class _Pair:
    """A tensor flowing through the fused level: ``shared`` = both branches see the same
    [B, C, ...] tensor (the level's input); otherwise channels are [stable | plastic]."""

    __slots__ = ("x", "shared")

    def __init__(self, x: Tensor, shared: bool) -> None:
        self.x, self.shared = x, shared


def _conv(stable: nn.Module, plastic: nn.Module, h: _Pair) -> _Pair:
    weight = torch.cat([_conv_weight(stable), _conv_weight(plastic)], dim=0)
    out = F.conv2d(h.x, weight, None, stable.stride, stable.padding, stable.dilation,
                   1 if h.shared else 2)
    return _Pair(out, shared=False)


def _batch_norm(stable: nn.BatchNorm2d, plastic: nn.BatchNorm2d, h: _Pair) -> _Pair:
    if h.shared:  # not in ResNets (a conv always comes first); keep the function total
        h = _Pair(torch.cat([h.x, h.x], dim=1), shared=False)
    training = stable.training
    mean = torch.cat([stable.running_mean, plastic.running_mean])
    var = torch.cat([stable.running_var, plastic.running_var])
    out = F.batch_norm(h.x, mean, var, torch.cat([stable.weight, plastic.weight]),
                       torch.cat([stable.bias, plastic.bias]), training, stable.momentum, stable.eps)
    if training:  # running statistics were updated on the concatenated copies: write them back
        channels = stable.num_features
        with torch.no_grad():
            stable.running_mean.copy_(mean[:channels])
            plastic.running_mean.copy_(mean[channels:])
            stable.running_var.copy_(var[:channels])
            plastic.running_var.copy_(var[channels:])
            stable.num_batches_tracked.add_(1)
            plastic.num_batches_tracked.add_(1)
    return _Pair(out, shared=False)


def _block(stable: BasicBlock, plastic: BasicBlock, h: _Pair) -> _Pair:
    if stable.downsample is None:
        identity = torch.cat([h.x, h.x], dim=1) if h.shared else h.x
    else:
        identity = _run(stable.downsample, plastic.downsample, h).x
    out = _batch_norm(stable.bn1, plastic.bn1, _conv(stable.conv1, plastic.conv1, h))
    out = _Pair(F.relu(out.x), shared=False)
    out = _batch_norm(stable.bn2, plastic.bn2, _conv(stable.conv2, plastic.conv2, out)).x + identity
    return _Pair(out if stable.last else F.relu(out), shared=False)


def _run(stable: nn.Module, plastic: nn.Module, h: _Pair) -> _Pair:
    if _is_conv(stable):
        return _conv(stable, plastic, h)
    if isinstance(stable, nn.BatchNorm2d):
        return _batch_norm(stable, plastic, h)
    if isinstance(stable, BasicBlock):
        return _block(stable, plastic, h)
    if isinstance(stable, nn.Sequential):
        for s, p in zip(stable, plastic):
            h = _run(s, p, h)
        return h
    if isinstance(stable, nn.ReLU):  # never in place: the input may be a saved activation
        return _Pair(F.relu(h.x), h.shared)
    return _Pair(stable(h.x), h.shared)  # pooling / flatten: per channel, both halves at once


def fused_level_forward(stable: nn.Module, plastic: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """(stable(x), plastic(x)) computed as one fused network; see the module docstring."""
    h = _run(stable, plastic, _Pair(x, shared=True))
    if h.shared:
        return h.x, h.x
    half = h.x.shape[1] // 2
    return h.x[:, :half], h.x[:, half:]


__all__ = ["fused_level_forward", "supports_fused"]
