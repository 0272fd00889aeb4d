"""A two-hidden-layer MLP backbone: the network DER's authors train on MNIST-like streams.

Mammoth's seq-mnist protocol (the DER / DER++ paper's smallest benchmark) flattens each image and
feeds it to two fully connected layers of 100 ReLU units, without BatchNorm, Xavier-initialised.
The harness offers it (``--set model.backbone=mlp``) so a baseline can be re-run under its
authors' protocol, and ``mlp-bn`` (the same with BatchNorm) to measure what batch statistics do
to a method; neither is a substitute for the ResNets the AANets protocols use.
"""

from __future__ import annotations

from torch import nn

from .resnet import BACKBONES, SIZED_BY_INPUT, Backbone


def mlp(in_channels: int = 1, input_norm: nn.Module | None = None, input_side: int = 28,
        hidden: int = 100, batchnorm: bool = False) -> Backbone:
    """Flatten -> Linear(C*side*side, hidden) -> ReLU -> Linear(hidden, hidden) -> ReLU; two levels,
    ``hidden``-d feature; weights Xavier-uniform, biases 0 (as the reference's MNIST MLP).
    ``batchnorm``: a BatchNorm1d before each ReLU, the one difference from the reference, to
    measure what batch statistics do to a method (``mlp-bn``)."""
    def hidden_layer(width_in: int) -> list[nn.Module]:
        norm: list[nn.Module] = [nn.BatchNorm1d(hidden)] if batchnorm else []
        return [nn.Linear(width_in, hidden), *norm, nn.ReLU(inplace=True)]

    level1 = nn.Sequential(nn.Flatten(1), *hidden_layer(in_channels * input_side * input_side))
    level2 = nn.Sequential(*hidden_layer(hidden))
    backbone = Backbone([level1, level2], out_dim=hidden, input_norm=input_norm)
    for module in backbone.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return backbone


def mlp_bn(in_channels: int = 1, input_norm: nn.Module | None = None, input_side: int = 28,
           hidden: int = 100) -> Backbone:
    """The MLP with a BatchNorm1d before each ReLU (a control, not a reference network)."""
    return mlp(in_channels, input_norm, input_side, hidden, batchnorm=True)


# registered beside the ResNets, so build_backbone("mlp", channels, input_side=...) works
BACKBONES.update({"mlp": mlp, "mlp-bn": mlp_bn})
SIZED_BY_INPUT.update({"mlp", "mlp-bn"})

__all__ = ["mlp", "mlp_bn"]
