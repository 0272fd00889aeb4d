"""Backbones, cosine classifier and the aggregated network."""

import pytest
import torch
from torch import nn

from aanets_avalanche.models import (
    AggregatedBackbone, CosineClassifier, CosineIncrementalNet, ScaledFrozenConv2d, build_backbone,
    resnet18, resnet32,
)

# kernel-sensitive numbers: CI runs these again under AVX2 kernels (.ci/run)
pytestmark = pytest.mark.numeric


def _count_blocks(module: nn.Module) -> int:
    from aanets_avalanche.models import BasicBlock
    return sum(isinstance(m, BasicBlock) for m in module.modules())


def test_resnet32_shape_levels_and_negative_features():
    net = resnet32()
    assert len(net.levels) == 3 and _count_blocks(net) == 15
    from aanets_avalanche.models import BasicBlock
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock)]
    assert [b.last for b in blocks] == [False] * 14 + [True]
    seen = {}
    blocks[-1].register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    feats = net(torch.randn(4, 3, 32, 32))
    assert feats.shape == (4, 64)
    assert (seen["out"] < 0).any(), "the last block has no final ReLU, so its output can be negative"


def test_resnet18_levels_and_dims():
    net = resnet18()
    assert len(net.levels) == 4 and _count_blocks(net) == 8
    assert net(torch.randn(2, 3, 64, 64)).shape == (2, 512)
    assert resnet18(small_input=True)(torch.randn(2, 3, 32, 32)).shape == (2, 512)


def test_mlp_is_the_reference_two_layer_network_without_batchnorm():
    """Mammoth's MNIST MLP: flatten, 100 ReLU, 100 ReLU; Xavier weights, zero biases; no
    BatchNorm (its outputs do not depend on the rest of the batch)."""
    net = build_backbone("mlp", 1, input_side=28)
    assert len(net.levels) == 2 and net.out_dim == 100
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 100), (100, 100)]
    assert all(torch.count_nonzero(m.bias) == 0 for m in linears)
    bound = (6 / (784 + 100)) ** 0.5  # Xavier-uniform
    assert linears[0].weight.abs().max() <= bound and linears[0].weight.std() > bound / 3
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
    x = torch.randn(4, 1, 28, 28)
    out = net(x)
    assert out.shape == (4, 100) and (out >= 0).all()
    # each sample alone, in training mode: the same features (up to the kernels' rounding)
    assert torch.allclose(net(x[:1]), out[:1], atol=1e-5)
    assert build_backbone("mlp", 3, input_side=8)(torch.randn(2, 3, 8, 8)).shape == (2, 100)
    # mlp-bn: the same layers with a BatchNorm1d before each ReLU (a control)
    with_bn = build_backbone("mlp-bn", 1, input_side=28)
    norms = [m for m in with_bn.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 2 and [type(m).__name__ for m in with_bn.levels[1]] == [
        "Linear", "BatchNorm1d", "ReLU"]
    assert not torch.allclose(with_bn(x[:2])[:1], with_bn(x)[:1], atol=1e-3)  # batch-dependent
    # build_backbone knows which backbones the input sizes: the MLPs need the side, ResNets
    # take it and ignore it
    with pytest.raises(ValueError, match="'mlp' is sized by its input: give input_side"):
        build_backbone("mlp", 1)
    assert build_backbone("resnet32", 1, input_side=28)(torch.randn(2, 1, 28, 28)).shape == (2, 64)


def test_build_backbone_rejects_unknown_name():
    with pytest.raises(ValueError, match="resnet18"):
        build_backbone("resnet1000")


def test_cosine_classifier_scales_and_freezes_old_classes():
    clf = CosineClassifier(4)
    clf.add_classes(2)
    x = torch.randn(3, 4)
    cos = clf.cosine(x)
    assert torch.all(cos.abs() <= 1 + 1e-6)
    with torch.no_grad():
        clf.sigma.fill_(3.0)
    assert torch.allclose(clf(x), 3.0 * cos)
    before = clf.weight.detach().clone()
    clf.add_classes(1)
    assert clf.num_old_classes == 2 and clf.num_classes == 3
    assert "old_weight" in dict(clf.named_buffers())
    assert torch.equal(clf.old_weight, before)
    assert [n for n, _ in clf.named_parameters()] == ["weight", "sigma"]


def test_imprinting_is_normalised_mean_times_old_norm():
    clf = CosineClassifier(2)
    clf.add_classes(2, torch.tensor([[3.0, 0.0], [0.0, 1.0]]))  # mean norm 2
    feats = [torch.tensor([[1.0, 1.0], [2.0, 2.0]]), torch.tensor([[0.0, -5.0]])]
    w = clf.imprint_weights(feats)
    s = 2.0 / 2**0.5
    assert torch.allclose(w, torch.tensor([[s, s], [0.0, -2.0]]))


def _trained_like(net: nn.Module) -> nn.Module:
    """Give BN non-trivial running statistics, as after phase-0 training."""
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(8, 3, 32, 32) * 2 + 0.5)
    return net


@pytest.mark.parametrize("mode", ["aanets", "dual-free"])
def test_aggregated_equals_original_network_at_construction(mode):
    torch.manual_seed(0)
    net = _trained_like(resnet32())
    agg = AggregatedBackbone(net, mode=mode)
    x = torch.randn(6, 3, 32, 32)
    net.eval(), agg.eval()
    with torch.no_grad():
        diff = (agg(x) - net(x)).abs().max().item()
    assert diff < 1e-5
    assert agg.aggregation_weights() == [0.5, 0.5, 0.5]


def test_stable_blocks_freeze_every_conv_and_train_scales_and_bn():
    net = resnet32()
    agg = AggregatedBackbone(net, mode="aanets")
    convs = [m for m in agg.stable_levels.modules() if isinstance(m, nn.Conv2d)]
    scaled = [m for m in agg.stable_levels.modules() if isinstance(m, ScaledFrozenConv2d)]
    assert convs == [] and len(scaled) == 1 + 30 + 2  # stem, 15 blocks x 2, two 1x1 shortcuts
    for m in scaled:
        assert m.scale.shape == (*m.frozen_weight.shape[:2], 1, 1)
        assert torch.equal(m.scale, torch.ones_like(m.scale))
    names = {n for n, p in agg.named_parameters() if p.requires_grad}
    assert any(".scale" in n for n in names) and any("stable_levels" in n and "bn" in n for n in names)
    assert not any(n.startswith("alphas") for n in names), "a_k belong to level 2, not level 1"


def test_incremental_net_features_feed_classifier():
    net = CosineIncrementalNet(resnet32(1))
    net.classifier.add_classes(3)
    x = torch.randn(2, 1, 8, 8)
    assert net(x).shape == (2, 3)
    assert torch.allclose(net(x), net.classifier(net.features(x)))
