"""Tiny synthetic class-incremental benchmarks for fast library tests (no data on disk)."""

from __future__ import annotations

import torch
from avalanche.benchmarks import nc_benchmark
from torch.utils.data import TensorDataset


def _separable(per_class: int, num_classes: int, seed: int, size: int = 8) -> TensorDataset:
    """Grey images whose class sets a bright square's position: easy, but needs real features."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(num_classes).repeat_interleave(per_class)
    x = 0.3 * torch.randn(len(y), 1, size, size, generator=g)
    for c in range(num_classes):
        r, col = divmod(c, size // 2)
        x[y == c, 0, 2 * r % size: 2 * r % size + 2, 2 * col: 2 * col + 2] += 2.0
    dataset = TensorDataset(x, y)
    dataset.targets = y.tolist()
    return dataset


def tiny_benchmark(num_classes: int = 6, base: int = 2, phases: int = 2, train_per_class: int = 24,
                   test_per_class: int = 8):
    """B``base`` + ``phases`` phases over ``num_classes`` synthetic classes, labels remapped."""
    order = list(range(num_classes))[::-1]
    return nc_benchmark(
        _separable(train_per_class, num_classes, seed=0),
        _separable(test_per_class, num_classes, seed=1),
        n_experiences=phases + 1, task_labels=False, fixed_class_order=order,
        per_exp_classes={0: base}, class_ids_from_zero_from_first_exp=True,
    )
