"""How long a plan will train here: a rate measured on this machine, times the plan's images.

The dry run times a few SGD steps of the plan's backbone on random images of its input size
(after one untimed step) and divides each run's training images by that rate, weighted per
method by what it computes per image beyond one network: the old model's forward for the
distillation methods, two branches and a two-branch old model for AANets (docs/speed.md
measured 1.8-2.0x LUCIR per level-1 image). Evaluation, herding and data loading are left
out, so it is an estimate, said to be one wherever it is printed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# per-image cost relative to one network trained alone (level 1); level-2 images cost
# LEVEL2_COST each (a forward and backward of the folded branches, docs/speed.md)
OLD_MODEL_COST = 1.35
AANETS_COST = 2.0
LEVEL2_COST = 0.85


@dataclass(frozen=True)
class Rate:
    images_per_s: float
    backbone: str
    batch: int
    device: str


def measure_rate(backbone: str, channels: int, side: int, batch: int, device: str,
                 steps: int = 3) -> Rate:
    """Images/s of SGD steps of ``backbone`` (one network, cross-entropy) at ``batch`` on
    random ``side`` x ``side`` images."""
    import torch

    from aanets_avalanche.models import build_backbone

    net = build_backbone(backbone, channels, input_side=side).to(device)
    head = torch.nn.Linear(net.out_dim, 10).to(device)
    params = [*net.parameters(), *head.parameters()]
    opt = torch.optim.SGD(params, lr=0.01)
    x = torch.randn(batch, channels, side, side, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(head(net(x)), y).backward()
        opt.step()

    step()  # warm-up: allocations, kernel choice
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return Rate(batch * steps / (time.perf_counter() - started), backbone, batch, device)


def method_cost(method: str) -> float:
    """Per-image cost of a method's level-1 training relative to one network alone."""
    from ..methods import get_method
    from ..methods.aanets import AANETS_VARIANTS

    variant = AANETS_VARIANTS.get(method)
    if variant is not None and variant[2] != "single" or method == "aanets-podnet":
        return AANETS_COST
    return OLD_MODEL_COST if get_method(method).memory != "none" or method == "lwf" else 1.0


def seconds(level1_images: int, level2_images: int, method: str, rate: Rate) -> float:
    return (level1_images * method_cost(method) + level2_images * LEVEL2_COST) / rate.images_per_s


__all__ = ["Rate", "measure_rate", "method_cost", "seconds"]
