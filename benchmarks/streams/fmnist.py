"""Fashion-MNIST in torchvision's layout (the four IDX files), kept in memory as uint8."""

from __future__ import annotations

from pathlib import Path

from .common import open_torchvision_dataset, small_image_pipeline, subset_tensors
from .registry import LoadedData, StreamSizes, StreamSpec, backbone_for_side, register_stream

FMNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


@register_stream(
    "split-fmnist",
    "Fashion-MNIST 28x28 grey (torchvision layout), B5 + N phases",
    lambda spec: FMNIST_CLASSES,
    sizes=lambda spec: StreamSizes([6000] * 10, backbone_for_side(28)),
    channels=1, files="FashionMNIST/raw", side=28,
)
def _load_fmnist(spec: StreamSpec, root: Path) -> LoadedData:
    from torchvision.datasets import FashionMNIST

    parts = []
    for train, per_class in ((True, spec.train_per_class), (False, spec.test_per_class)):
        ds = open_torchvision_dataset(lambda **kw: FashionMNIST(train=train, **kw), spec, root,
                                      "Fashion-MNIST", "FashionMNIST/raw/ (the four IDX files)")
        parts.append(subset_tensors(ds.data.unsqueeze(1), ds.targets.tolist(), per_class,
                                    spec.class_order_seed))
    return small_image_pipeline(spec, 28, spec.mean or (0.2860,), spec.std or (0.3530,),
                                (parts[0], parts[1]), (1, 28, 28))
