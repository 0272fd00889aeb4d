"""The fused two-branch forward computes what the plain one does, and trains the same parameters."""

import copy
import io

import pytest
import torch

from aanets_avalanche.models import AggregatedBackbone, CosineIncrementalNet, resnet18, resnet32
from aanets_avalanche.models.fused import supports_fused

# kernel-sensitive numbers: CI runs these again under AVX2 kernels (.ci/run)
pytestmark = pytest.mark.numeric


def _randomised(backbone, mode: str = "aanets") -> AggregatedBackbone:
    """An aggregated backbone whose scales, BN parameters/statistics and a_k are not at their
    initial values, so a mix-up of stable and plastic halves would show."""
    torch.manual_seed(0)
    agg = AggregatedBackbone(backbone, mode=mode, fused=False)
    with torch.no_grad():
        for name, p in agg.named_parameters():
            if not name.startswith("alphas"):
                p.mul_(1 + 0.3 * torch.randn_like(p))
        for i, a in enumerate(agg.alphas):
            a.fill_(0.3 + 0.2 * i)
        for m in agg.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return agg


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    """Equal to ``tol`` relative to the tensor's scale (float32 sums in another order differ
    in the last bits)."""
    if a.numel() == 0:
        return b.numel() == 0
    return float((a - b).abs().max()) <= tol * max(1.0, float(a.abs().max()))


def _loss(out: torch.Tensor) -> torch.Tensor:
    return (out * torch.linspace(-1, 1, out.shape[1])).sum() + (out ** 2).mean()


def _step(agg: AggregatedBackbone, x: torch.Tensor, train: bool):
    agg.train(train)
    for a in agg.alphas:
        a.requires_grad_(True)
    out = agg(x)
    _loss(out).backward()
    grads = {n: p.grad.clone() for n, p in agg.named_parameters() if p.grad is not None}
    buffers = {n: b.clone() for n, b in agg.named_buffers()}
    return out.detach(), grads, buffers


def _alpha_gradient_magnitudes(agg: AggregatedBackbone, x: torch.Tensor, train: bool) -> list[float]:
    """Per level, the sum of |terms| that make up dL/da_k = sum((S_k - P_k) * dL/dx_k).

    The a_k gradient is one sum over every element of a level's output, and its terms cancel:
    float rounding in it is bounded by this magnitude, not by the gradient's own size (a kernel
    that sums in another order, e.g. AVX-512 against AVX2, moves it by 1e-5 of its own size)."""
    model = copy.deepcopy(agg).train(train)
    h = model.input_norm(x) if model.input_norm is not None else x
    parts = []
    for stable, plastic, alpha in zip(model.stable_levels, model.plastic_levels, model.alphas):
        out_s, out_p = stable(h), plastic(h)
        h = alpha.detach() * out_s + (1 - alpha.detach()) * out_p
        h.retain_grad()
        parts.append((out_s.detach(), out_p.detach(), h))
    _loss(h).backward()
    return [float(((s.abs() + p.abs()) * mixed.grad.abs()).sum()) for s, p, mixed in parts]


CASES = [  # (backbone, mode, train mode, input shape)
    *[(lambda: resnet32(3), mode, train, (6, 3, 16, 16))
      for mode in ("aanets", "dual-free") for train in (True, False)],
    (lambda: resnet18(3, small_input=True), "aanets", True, (2, 3, 8, 8)),
]


@pytest.mark.parametrize("make_backbone, mode, train, shape", CASES,
                         ids=["r32-aanets-train", "r32-aanets-eval", "r32-dualfree-train",
                              "r32-dualfree-eval", "r18-aanets-train"])
def test_fused_equals_plain(make_backbone, mode, train, shape):
    plain = _randomised(make_backbone(), mode)
    fused = copy.deepcopy(plain)
    fused.fused = True
    x = torch.randn(*shape)
    out_p, grads_p, buf_p = _step(plain, x, train)
    out_f, grads_f, buf_f = _step(fused, x, train)
    assert _close(out_p, out_f)
    assert set(grads_p) == set(grads_f) == {n for n, p in plain.named_parameters()}
    alpha_terms = _alpha_gradient_magnitudes(plain, x, train)
    for name in grads_p:
        if name.startswith("alphas."):
            level = int(name.split(".")[1])
            # float32 sums over this many terms in another order: 1e-6 of their magnitude
            assert float((grads_p[name] - grads_f[name]).abs()) <= 1e-6 * alpha_terms[level], name
        else:
            assert _close(grads_p[name], grads_f[name]), name
    assert all(g.abs().sum() > 0 for n, g in grads_f.items() if n.startswith("alphas")), \
        "every a_k gets a gradient"
    for name in buf_p:  # running statistics updated identically (train) or untouched (eval)
        assert _close(buf_p[name].float(), buf_f[name].float()), name


def test_checkpoints_of_either_form_load_into_the_other():
    plain = CosineIncrementalNet(resnet32(3))
    plain.classifier.add_classes(3)
    plain.backbone = _randomised(plain.backbone)
    fused = copy.deepcopy(plain)
    fused.backbone.fused = True
    x = torch.randn(3, 3, 16, 16)
    for source, target_fused in ((plain, True), (fused, False)):
        buffer = io.BytesIO()
        torch.save(source.state_dict(), buffer)
        target = CosineIncrementalNet(resnet32(3))
        target.classifier.add_classes(3)
        target.backbone = AggregatedBackbone(target.backbone, fused=target_fused)
        target.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
        source.eval(), target.eval()
        assert torch.allclose(source(x), target(x), atol=1e-5)


def test_a_state_dict_of_another_network_is_refused_clearly():
    fused = AggregatedBackbone(resnet32(3), fused=True)
    single = resnet32(3).state_dict()
    with pytest.raises(RuntimeError, match="Missing key"):
        fused.load_state_dict(single)


def test_unknown_layers_fall_back_to_the_plain_forward():
    backbone = resnet32(1)
    backbone.levels[0].append(torch.nn.Dropout(0.0))
    agg = AggregatedBackbone(backbone, fused=True)
    assert not supports_fused(agg.stable_levels[0], agg.plastic_levels[0])
    assert supports_fused(agg.stable_levels[1], agg.plastic_levels[1])
    assert agg(torch.randn(2, 1, 8, 8)).shape == (2, 64)
