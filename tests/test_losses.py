"""The distillation terms against hand computations and the reference formulas."""

import math

import pytest
import torch
import torch.nn.functional as F

from aanets_avalanche.plugins import icarl_kd_loss, less_forget_loss, lucir_lambda, margin_ranking_loss

# kernel-sensitive numbers: CI runs these again under AVX2 kernels (.ci/run)
pytestmark = pytest.mark.numeric


def test_lucir_lambda_schedule():
    assert lucir_lambda(5.0, 50, 10) == 5.0 * math.sqrt(5)
    assert lucir_lambda(5.0, 90, 2) == 5.0 * math.sqrt(45)
    assert lucir_lambda(10.0, 50, 5) == 10.0 * math.sqrt(10)


def test_less_forget_is_mean_one_minus_cosine():
    f = torch.tensor([[1.0, 0.0], [0.0, 2.0]], requires_grad=True)
    f_old = torch.tensor([[1.0, 0.0], [2.0, 0.0]], requires_grad=True)
    loss = less_forget_loss(f, f_old)
    assert loss.item() == 0.5  # (0 + 1) / 2
    loss.backward()
    assert f_old.grad is None, "the old feature is a constant"


def test_margin_ranking_uses_top_k_new_cosines_of_old_samples():
    # 2 old classes, 3 new; rows 0 and 1 are old-class samples, row 2 is new (ignored)
    cos = torch.tensor([
        [0.9, 0.1, 0.5, 0.7, 0.2],
        [0.0, 0.3, 0.1, 0.0, 0.6],
        [0.0, 0.0, 0.9, 0.0, 0.0],
    ])
    y = torch.tensor([0, 1, 2])
    # row 0: gt 0.9, top-2 new 0.7, 0.5 -> relu(0.5-0.9+0.7)=0.3, relu(0.5-0.9+0.5)=0.1
    # row 1: gt 0.3, top-2 new 0.6, 0.1 -> 0.8, 0.3
    expected = (0.3 + 0.1 + 0.8 + 0.3) / 4
    assert math.isclose(margin_ranking_loss(cos, y, num_old=2, margin=0.5, k=2).item(), expected, rel_tol=1e-6)
    ref = torch.nn.MarginRankingLoss(margin=0.5)(
        torch.tensor([0.9, 0.9, 0.3, 0.3]), torch.tensor([0.7, 0.5, 0.6, 0.1]), torch.ones(4))
    assert math.isclose(ref.item(), expected, rel_tol=1e-6)


def test_margin_ranking_caps_k_at_number_of_new_classes():
    cos = torch.tensor([[0.2, 0.1, 0.6]])  # 2 old, 1 new
    loss = margin_ranking_loss(cos, torch.tensor([0]), num_old=2, margin=0.5, k=2)
    assert math.isclose(loss.item(), 0.5 - 0.2 + 0.6, rel_tol=1e-6)


def test_margin_ranking_is_zero_without_old_samples():
    cos = torch.rand(3, 4)
    assert margin_ranking_loss(cos, torch.tensor([2, 3, 3]), num_old=2, margin=0.5, k=2).item() == 0.0


def test_icarl_kd_matches_reference_scaling():
    torch.manual_seed(0)
    z, z_old, T = torch.randn(5, 7), torch.randn(5, 4), 2.0
    reference = torch.nn.KLDivLoss()(F.log_softmax(z[:, :4] / T, dim=1), F.softmax(z_old / T, dim=1)) * T * T * 4
    assert torch.allclose(icarl_kd_loss(z, z_old, T), reference, atol=1e-6)


def test_distillation_base_plugin_is_abstract():
    import pytest

    from aanets_avalanche.plugins import PreviousModelDistillation
    with pytest.raises(TypeError, match="abstract"):
        PreviousModelDistillation()
