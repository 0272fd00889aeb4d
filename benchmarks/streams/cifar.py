"""CIFAR-100 and CIFAR-10 in torchvision's layout (python pickles), kept in memory as uint8."""

from __future__ import annotations

from pathlib import Path

import torch

from .common import open_torchvision_dataset, small_image_pipeline, subset_tensors
from .registry import (LoadedData, StreamSizes, StreamSpec, backbone_for_side, per_channel,
                       register_stream)

# The datasets' own `classes` lists, so `describe` needs no data on disk.
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]
CIFAR100_CLASSES = [
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
]


def _cifar(spec: StreamSpec, root: Path, cls_name: str, what: str, layout: str, mean,
           std) -> LoadedData:
    import torchvision.datasets as tvd

    factory = getattr(tvd, cls_name)
    parts = []
    for train, per_class in ((True, spec.train_per_class), (False, spec.test_per_class)):
        ds = open_torchvision_dataset(lambda **kw: factory(train=train, **kw), spec, root,
                                      what, layout)
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # HWC -> CHW uint8
        parts.append(subset_tensors(images, ds.targets, per_class, spec.class_order_seed))
    return small_image_pipeline(spec, 32, per_channel(spec.mean or mean, 3),
                                per_channel(spec.std or std, 3), (parts[0], parts[1]), (3, 32, 32))


@register_stream(
    "split-cifar100",
    "CIFAR-100, B50 + N phases, seed-1993 order (the AANets paper's main protocol)",
    lambda spec: CIFAR100_CLASSES,
    sizes=lambda spec: StreamSizes([500] * 100, backbone_for_side(32)),
    channels=3, files="cifar-100-python", side=32,
)
def _load_cifar100(spec: StreamSpec, root: Path) -> LoadedData:
    return _cifar(spec, root, "CIFAR100", "CIFAR-100", "cifar-100-python/",
                  (0.5071, 0.4866, 0.4409), (0.2009, 0.1984, 0.2023))


@register_stream(
    "split-cifar10",
    "CIFAR-10 (torchvision layout), B5 + N phases",
    lambda spec: CIFAR10_CLASSES,
    sizes=lambda spec: StreamSizes([5000] * 10, backbone_for_side(32)),
    channels=3, files="cifar-10-batches-py", side=32,
)
def _load_cifar10(spec: StreamSpec, root: Path) -> LoadedData:
    return _cifar(spec, root, "CIFAR10", "CIFAR-10", "cifar-10-batches-py/",
                  (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
