"""The AANets aggregated backbone: per level, a stable and a plastic block mixed by a_k.

Stable block: every conv keeps its phase-0 kernel frozen (a buffer) and learns one scale per
kernel slice, shape [out, in, 1, 1]; its BatchNorm layers stay trainable. Plastic block: an
ordinary trainable copy. x_k = a_k * S_k(x_{k-1}) + (1 - a_k) * P_k(x_{k-1}).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .fused import fused_level_forward, supports_fused
from .resnet import Backbone

BRANCH_MODES = ("aanets", "dual-free", "single")


class ScaledFrozenConv2d(nn.Module):
    """A conv whose kernel is frozen and multiplied by a learnable per-slice scale (init 1)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if conv.bias is not None:
            raise ValueError("stable blocks expect bias-free convolutions")
        self.register_buffer("frozen_weight", conv.weight.detach().clone())
        self.scale = nn.Parameter(torch.ones(conv.out_channels, conv.in_channels // conv.groups, 1, 1,
                                             device=conv.weight.device))
        self.stride, self.padding = conv.stride, conv.padding
        self.dilation, self.groups = conv.dilation, conv.groups

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.frozen_weight * self.scale, None, self.stride, self.padding,
                        self.dilation, self.groups)


def make_stable(level: nn.Module) -> nn.Module:
    """A copy of ``level`` with every Conv2d replaced by a ScaledFrozenConv2d."""
    stable = copy.deepcopy(level)
    for name, child in list(stable.named_modules()):
        for attr, sub in list(child.named_children()):
            if isinstance(sub, nn.Conv2d):
                setattr(child, attr, ScaledFrozenConv2d(sub))
    return stable


class AggregatedBackbone(nn.Module):
    """Two branches per level mixed by raw learnable scalars a_k (no softmax, no clamp).

    ``fused=True`` computes both branches of a level as one network over concatenated channels
    (models/fused.py): same function, same parameters, same state_dict as the plain form, so
    checkpoints of either form load into the other; levels made of other layers run plain.
    """

    def __init__(self, backbone: Backbone, mode: str = "aanets", init_alpha: float = 0.5,
                 fused: bool = False) -> None:
        super().__init__()
        if mode not in ("aanets", "dual-free"):
            raise ValueError(f"AggregatedBackbone mode must be 'aanets' or 'dual-free', got {mode!r}")
        self.mode = mode
        self.fused = fused
        self.out_dim = backbone.out_dim
        self.input_norm = copy.deepcopy(getattr(backbone, "input_norm", None))
        first = make_stable if mode == "aanets" else copy.deepcopy
        self.stable_levels = nn.ModuleList(first(level) for level in backbone.levels)
        self.plastic_levels = nn.ModuleList(copy.deepcopy(level) for level in backbone.levels)
        device = next(backbone.parameters()).device
        self.alphas = nn.ParameterList(
            nn.Parameter(torch.tensor(init_alpha, device=device), requires_grad=False)
            for _ in backbone.levels
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.input_norm is not None:
            x = self.input_norm(x)
        fusable = self._fusable() if self.fused else ()
        for k, (stable, plastic, alpha) in enumerate(zip(self.stable_levels, self.plastic_levels,
                                                         self.alphas)):
            if k in fusable:
                out_stable, out_plastic = fused_level_forward(stable, plastic, x)
            else:
                out_stable, out_plastic = stable(x), plastic(x)
            x = alpha * out_stable + (1 - alpha) * out_plastic
        return x

    def _fusable(self) -> frozenset[int]:
        """Levels the fused forward supports (checked once; the layout never changes)."""
        cached = self.__dict__.get("_fusable_levels")
        if cached is None:
            cached = frozenset(k for k, (s, p) in enumerate(zip(self.stable_levels, self.plastic_levels))
                               if supports_fused(s, p))
            self.__dict__["_fusable_levels"] = cached
        return cached

    def aggregation_weights(self) -> list[float]:
        return [float(a.detach()) for a in self.alphas]

    def branch_parameters(self) -> list[nn.Parameter]:
        """Every trainable parameter of both branches (level 1 owns these, never the a_k)."""
        return [*self.stable_levels.parameters(), *self.plastic_levels.parameters()]


__all__ = ["AggregatedBackbone", "BRANCH_MODES", "ScaledFrozenConv2d", "make_stable"]
