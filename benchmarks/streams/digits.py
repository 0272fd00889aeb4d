"""scikit-learn's bundled 8x8 digits: no download at all (the quick start and the tests)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from .common import subset_tensors
from .registry import LoadedData, StreamSizes, StreamSpec, backbone_for_side, register_stream

DIGITS_CLASSES = [str(d) for d in range(10)]


@register_stream(
    "split-digits",
    "scikit-learn's bundled 8x8 digits (no download; CPU demo in minutes), B5 + N phases",
    lambda spec: DIGITS_CLASSES,
    sizes=lambda spec: _digits_sizes(),
    channels=1, side=8,  # 8x8 grey levels
)
def _load_digits(spec: StreamSpec, root: Path) -> LoadedData:
    from torchvision.transforms import v2

    digits, train_idx, test_idx = _split()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)  # [0, 1]
    train = subset_tensors(images[train_idx], digits.target[train_idx], spec.train_per_class,
                            spec.class_order_seed)
    test = subset_tensors(images[test_idx], digits.target[test_idx], spec.test_per_class,
                           spec.class_order_seed)
    train_pixels = images[train_idx]
    mean = tuple(spec.mean or (float(train_pixels.mean()),))
    std = tuple(spec.std or (float(train_pixels.std()),))
    if spec.input_pipeline == "batched":  # normalised by the model's first layer
        return LoadedData(train, test, None, None, (1, 8, 8), normalization=(mean, std))
    normalize = v2.Normalize(list(mean), list(std))
    return LoadedData(train, test, normalize, normalize, (1, 8, 8))  # no augmentation at 8x8


@functools.lru_cache(maxsize=1)
def _split():
    """The bundled digits and a fixed, stratified 2/3 : 1/3 train/test split of them."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train_idx, test_idx = train_test_split(
        np.arange(len(digits.target)), test_size=1 / 3, stratify=digits.target, random_state=0
    )
    return digits, train_idx, test_idx


def _digits_sizes() -> StreamSizes:
    digits, train_idx, _ = _split()
    return StreamSizes(np.bincount(digits.target[train_idx]).tolist(), backbone_for_side(8))
