"""BatchNorm folded into the convolution before it: same function in eval mode, fewer layers."""

import copy

import pytest
import torch
from torch import nn

from aanets_avalanche.models import (AggregatedBackbone, CosineIncrementalNet, fold_batchnorm,
                                     folded_copy, podnet_resnet32, resnet18, resnet32)
from aanets_avalanche.plugins import frozen_copy

# kernel-sensitive numbers: CI runs these again under AVX2 kernels (.ci/run)
pytestmark = pytest.mark.numeric


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


def _trained_two_branch_net(x: torch.Tensor, fused: bool) -> nn.Module:
    """A two-branch cosine network with stable scales and BatchNorm statistics off identity."""
    torch.manual_seed(0)
    net = CosineIncrementalNet(resnet32(3))
    net.classifier.add_classes(4)
    net.backbone = AggregatedBackbone(net.backbone, fused=fused)
    for scale in (p for n, p in net.named_parameters() if n.endswith("scale")):
        nn.init.uniform_(scale, 0.8, 1.2)
    return _with_statistics(net, x)


@pytest.mark.parametrize("fused", [False, True])
def test_old_model_of_a_two_branch_network_is_folded_and_equal(fused):
    """frozen_copy folds the stable branch's scaled kernels too, and runs a fused network plain."""
    x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    net = _trained_two_branch_net(x, fused)
    old = frozen_copy(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in old.modules())
    assert not any(p.requires_grad for p in old.parameters()) and not old.training
    with torch.no_grad():
        expected, got = net.features(x), old.features(x)
    assert (got - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_level2_copy_shares_the_aggregation_weights_and_gives_their_gradient():
    """The level-2 pass trains the a_k through folded_copy(backbone, shared=a_k): the same
    a_k objects, the eval-mode network's gradient for them, nothing else trainable."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 3, 16, 16, generator=g), torch.randint(0, 4, (8,), generator=g)
    net = _trained_two_branch_net(x, fused=True)
    alphas = list(net.backbone.alphas)
    for a, value in zip(alphas, (0.3, 0.6, 0.45)):
        a.data.fill_(value)
        a.requires_grad_(True)
    expected = torch.autograd.grad(nn.functional.cross_entropy(net(x), y), alphas)
    backbone = net.backbone
    captured = []  # a plugin's capture on the original (PODNet's level outputs): not copied
    backbone.register_forward_hook(lambda module, args, out: captured.append(out))
    net(x)
    net.backbone = folded = folded_copy(backbone, shared=alphas)
    got = torch.autograd.grad(nn.functional.cross_entropy(net(x), y), alphas)
    assert all(a is b for a, b in zip(folded.alphas, alphas)) and len(captured) == 1
    assert [n for n, p in folded.named_parameters() if p.requires_grad] == \
        [f"alphas.{k}" for k in range(3)]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(p.requires_grad for n, p in backbone.named_parameters() if "alphas" not in n)
    for e, g in zip(expected, got):
        assert abs(float(g) - float(e)) <= 1e-4 * abs(float(e))


def test_folding_a_training_model_is_refused():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(resnet32(3))
