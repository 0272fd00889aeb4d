"""BatchNorm folded into the convolution before it: same function in eval mode, fewer layers."""

import copy

import pytest
import torch
from torch import nn

from aanets_avalanche.models import (AggregatedBackbone, CosineIncrementalNet, fold_batchnorm,
                                     podnet_resnet32, resnet18, resnet32)
from aanets_avalanche.plugins import frozen_copy


def _with_statistics(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Train-mode passes so the running statistics and BN affines are not the identity."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
            m.momentum = 0.5
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    return model.eval()


@pytest.mark.parametrize("make, shape", [(lambda: resnet32(3), (8, 3, 16, 16)),
                                         (lambda: resnet18(3, small_input=True), (4, 3, 16, 16)),
                                         (lambda: podnet_resnet32(3), (8, 3, 16, 16))])
def test_folded_backbone_computes_the_same_features(make, shape):
    torch.manual_seed(0)
    x = torch.randn(*shape)
    model = _with_statistics(make(), x)
    folded = fold_batchnorm(copy.deepcopy(model))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        expected, got = model(x), folded(x)
    assert (got - expected).abs().max() <= 1e-5 * expected.abs().max()


@pytest.mark.parametrize("fused", [False, True])
def test_old_model_of_a_two_branch_network_is_folded_and_equal(fused):
    """frozen_copy folds the stable branch's scaled kernels too, and runs a fused network plain."""
    torch.manual_seed(0)
    x = torch.randn(8, 3, 16, 16)
    net = CosineIncrementalNet(resnet32(3))
    net.classifier.add_classes(4)
    net.backbone = AggregatedBackbone(net.backbone, fused=fused)
    for scale in (p for n, p in net.named_parameters() if n.endswith("scale")):
        nn.init.uniform_(scale, 0.8, 1.2)
    _with_statistics(net, x)
    old = frozen_copy(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in old.modules())
    assert not any(p.requires_grad for p in old.parameters()) and not old.training
    with torch.no_grad():
        expected, got = net.features(x), old.features(x)
    assert (got - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_folding_a_training_model_is_refused():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(resnet32(3))
