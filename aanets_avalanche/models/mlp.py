"""A two-hidden-layer MLP backbone: the network DER's authors train on MNIST-like streams.

Mammoth's seq-mnist protocol (the DER / DER++ paper's smallest benchmark) flattens each image and
feeds it to two fully connected layers of 100 ReLU units, without BatchNorm, Xavier-initialised.
The harness offers it (``--set model.backbone=mlp``) so a baseline can be re-run under its
authors' protocol; it is no substitute for the ResNets the AANets protocols use.
"""

from __future__ import annotations

from torch import nn

from .resnet import BACKBONES, Backbone


def mlp(in_channels: int = 1, input_norm: nn.Module | None = None, input_side: int = 28,
        hidden: int = 100) -> Backbone:
    """Flatten -> Linear(C*side*side, hidden) -> ReLU -> Linear(hidden, hidden) -> ReLU; two levels,
    ``hidden``-d feature; weights Xavier-uniform, biases 0 (as the reference's MNIST MLP)."""
    level1 = nn.Sequential(nn.Flatten(1), nn.Linear(in_channels * input_side * input_side, hidden),
                           nn.ReLU(inplace=True))
    level2 = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True))
    backbone = Backbone([level1, level2], out_dim=hidden, input_norm=input_norm)
    for module in backbone.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return backbone


# registered beside the ResNets, so build_backbone("mlp", channels, input_side=...) works
BACKBONES["mlp"] = mlp
# backbones whose first layer is sized by the input: build_backbone needs input_side for them
NEEDS_INPUT_SIDE = frozenset({"mlp"})

__all__ = ["NEEDS_INPUT_SIDE", "mlp"]
