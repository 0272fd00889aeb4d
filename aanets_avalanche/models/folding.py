"""Eval-mode BatchNorm folded into the convolution before it, for networks that never train again.

The old model of a distillation loss is frozen and runs in eval mode on every training batch;
there each BatchNorm is a fixed per-channel affine map, which the preceding convolution can
absorb (W' = W * g / sqrt(v + eps), b' = beta - m * g / sqrt(v + eps)). That removes one pass
over every feature map per BatchNorm, the same function up to float rounding. A stable-branch
convolution (frozen kernel x learned scale) becomes a plain convolution on the way.

Only pairs whose data flow is known are folded: adjacent (convolution, BatchNorm) children of an
``nn.Sequential``, and ``conv1/bn1``, ``conv2/bn2`` of our ``BasicBlock``. Anything else is left
as it is, so an unknown architecture stays correct, only unfolded.
"""

from __future__ import annotations

import copy
from typing import Iterable

import torch
from torch import nn

from .aggregated import AggregatedBackbone, ScaledFrozenConv2d
from .resnet import BasicBlock

_CONVS = (nn.Conv2d, ScaledFrozenConv2d)
_HOOK_DICTS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
               "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_backward_hooks",
               "_backward_pre_hooks")


def _folded(conv: nn.Module, bn: nn.BatchNorm2d) -> nn.Conv2d | None:
    if bn.running_mean is None or bn.running_var is None:
        return None  # batch statistics even in eval mode: not a fixed map
    if isinstance(conv, ScaledFrozenConv2d):
        weight, bias = conv.frozen_weight * conv.scale, None
    else:
        if conv.padding_mode != "zeros":
            return None
        weight, bias = conv.weight, conv.bias
    with torch.no_grad():
        inv_std = torch.rsqrt(bn.running_var + bn.eps)
        gain = inv_std if bn.weight is None else bn.weight * inv_std
        shift = -bn.running_mean * gain if bn.bias is None else bn.bias - bn.running_mean * gain
        if bias is not None:
            shift = shift + bias * gain
        out_channels, in_per_group = weight.shape[:2]
        fused = nn.Conv2d(in_per_group * conv.groups, out_channels, weight.shape[2:],
                          stride=conv.stride, padding=conv.padding, dilation=conv.dilation,
                          groups=conv.groups, bias=True, device=weight.device, dtype=weight.dtype)
        fused.weight.copy_(weight * gain.reshape(-1, 1, 1, 1))
        fused.bias.copy_(shift)
    if weight.is_contiguous(memory_format=torch.channels_last):
        fused.to(memory_format=torch.channels_last)
    return fused


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold, in place, every eval-mode BatchNorm that directly follows a convolution (see the
    module docstring); returns ``model``. Call it only on a model in eval mode that no longer
    trains (e.g. ``frozen_copy``'s): the folded layers have no running statistics to update."""
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode (it freezes BatchNorm)")
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                conv, bn = module[i], module[i + 1]
                if isinstance(conv, _CONVS) and isinstance(bn, nn.BatchNorm2d):
                    fused = _folded(conv, bn)
                    if fused is not None:
                        module[i], module[i + 1] = fused, nn.Identity()
        elif isinstance(module, BasicBlock):
            for conv_name, bn_name in (("conv1", "bn1"), ("conv2", "bn2")):
                conv, bn = getattr(module, conv_name), getattr(module, bn_name)
                if isinstance(conv, _CONVS) and isinstance(bn, nn.BatchNorm2d):
                    fused = _folded(conv, bn)
                    if fused is not None:
                        setattr(module, conv_name, fused)
                        setattr(module, bn_name, nn.Identity())
    return model


def folded_copy(model: nn.Module, shared: Iterable[nn.Parameter] = ()) -> nn.Module:
    """A deep copy in eval mode, BatchNorms folded, that trains nothing of its own.

    The parameters in ``shared`` are the original's, not copies, and keep their
    ``requires_grad``: the level-2 pass trains the a_k through a folded copy of the branches,
    which stay fixed while it runs. The copy carries none of the original's module hooks (a
    plugin's capture of a training batch's features). Two-branch levels run plain (the fused
    forward reads BatchNorms)."""
    keep = {id(p): p for p in shared}
    memo: dict[int, object] = dict(keep)
    for module in model.modules():  # plugins' captures hook the original, never the copy
        for name in _HOOK_DICTS:
            hooks = getattr(module, name, None)
            if hooks is not None:
                memo[id(hooks)] = type(hooks)()
    clone = copy.deepcopy(model, memo=memo)
    clone.eval()
    for module in clone.modules():
        if isinstance(module, AggregatedBackbone):
            module.fused = False
    fold_batchnorm(clone)
    for p in clone.parameters():
        if id(p) not in keep:
            p.requires_grad_(False)
    return clone


__all__ = ["fold_batchnorm", "folded_copy"]
