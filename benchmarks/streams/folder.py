"""Any class-per-folder image tree (ImageNet-Subset layout): small images decoded once into
memory, large ones decoded per access with the ImageNet recipe."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from benchmarks.errors import UserError

from .common import TensorImages, per_class_subset, small_image_pipeline
from .registry import (DATA_ROOT_ENV, SMALL_IMAGE_MAX, LoadedData, StreamSizes, StreamSpec,
                       backbone_for_side, register_stream, resolve_data_root)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
_FOLDER_LAYOUT = "<root>/train/<class>/*.jpg and <root>/val/<class>/ (or test/)"


def _folder_split_dirs(root: Path) -> tuple[Path, Path]:
    test_dir = next((root / s for s in ("val", "test") if (root / s).is_dir()), None)
    if not (root / "train").is_dir() or test_dir is None:
        raise UserError(
            f"split-folder needs a class-per-folder image tree at {root} "
            f"({_FOLDER_LAYOUT}); point --data-root or ${DATA_ROOT_ENV} at it"
        )
    return root / "train", test_dir


def folder_classes(root: Path) -> list[str]:
    """Class names of a split-folder tree: the sorted sub-folders of train/ (ImageFolder order)."""
    train_dir, _ = _folder_split_dirs(root)
    classes = sorted(e.name for e in os.scandir(train_dir) if e.is_dir())
    if len(classes) < 2:
        raise UserError(f"split-folder found {len(classes)} class folder(s) in {train_dir}; "
                        "need at least 2")
    return classes


def folder_files(split_dir: Path, classes: Sequence[str]) -> tuple[list[str], list[int]]:
    """(paths, labels) of every image in a class-per-folder split, sorted; nothing is decoded."""
    paths, labels = [], []
    for label, name in enumerate(classes):
        class_dir = split_dir / name
        if not class_dir.is_dir():
            raise UserError(f"class folder {class_dir} is missing ({split_dir.parent} must have "
                            "the same classes in train/ and val/ or test/)")
        files = sorted(e.path for e in os.scandir(class_dir)
                       if e.is_file() and e.name.lower().endswith(_IMAGE_EXTENSIONS))
        paths += files
        labels += [label] * len(files)
    return paths, labels


def _decode_rgb(path: str) -> torch.Tensor:
    """One image file -> uint8 [3, H, W] (PIL: torchvision.io decoding is deprecated in 0.29)."""
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.array(image if image.mode == "RGB" else image.convert("RGB"))
    return torch.from_numpy(pixels).permute(2, 0, 1)


def _decode_all(paths: Sequence[str], size: int) -> torch.Tensor:
    """Decode small images once into one uint8 tensor [N, 3, size, size]."""
    from torchvision.transforms.v2 import functional as F

    out = torch.empty((len(paths), 3, size, size), dtype=torch.uint8)
    for i, path in enumerate(paths):
        image = _decode_rgb(path)
        if image.shape[1:] != (size, size):
            image = F.resize(image, [size, size], antialias=True)
        out[i] = image
    return out


class ImageFiles(Dataset):
    """Image files decoded on access (for large images that do not fit in memory)."""

    def __init__(self, paths: Sequence[str], targets: Sequence[int]):
        self.paths = list(paths)
        self.targets = [int(t) for t in targets]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        return _decode_rgb(self.paths[index]), self.targets[index]



@register_stream(
    "split-folder",
    "any class-per-folder image tree with train/ and val/ or test/ (e.g. ImageNet-Subset); "
    "--data-root is the tree",
    lambda spec: folder_classes(resolve_data_root(spec)),
    sizes=lambda spec: _folder_sizes(spec),
)
def _load_folder(spec: StreamSpec, root: Path) -> LoadedData:
    from torchvision.transforms import v2

    classes = folder_classes(root)
    train_dir, test_dir = _folder_split_dirs(root)
    splits = []
    for split_dir, per_class in ((train_dir, spec.train_per_class),
                                 (test_dir, spec.test_per_class)):
        paths, labels = folder_files(split_dir, classes)
        keep = per_class_subset(labels, per_class, spec.class_order_seed)  # before decoding
        splits.append(([paths[i] for i in keep], [labels[i] for i in keep]))
    if not splits[0][0] or not splits[1][0]:
        raise UserError(f"split-folder found no images under {root} ({_FOLDER_LAYOUT})")

    size = spec.image_size or max(_decode_rgb(splits[0][0][0]).shape[1:])
    mean, std = spec.mean or IMAGENET_MEAN, spec.std or IMAGENET_STD
    if size <= SMALL_IMAGE_MAX:  # CIFAR-like: decode once, keep in memory, pad-crop + flip
        train, test = (TensorImages(_decode_all(p, size), y) for p, y in splits)
        return small_image_pipeline(spec, size, mean, std, (train, test), (3, size, size))

    # ImageNet recipe for large images, decoded per access (in the loader workers). Batched:
    # the workers decode + RandomResizedCrop to uint8; flip and normalisation run per
    # mini-batch on the device (uint8 crosses to the GPU, a quarter of the float32 bytes).
    size = spec.image_size or 224
    crop = [v2.RandomResizedCrop(size, antialias=True)]
    centre = [v2.Resize(round(size * 256 / 224), antialias=True), v2.CenterCrop(size)]
    train, test = (ImageFiles(p, y) for p, y in splits)
    if spec.input_pipeline == "batched":
        from aanets_avalanche.augment import BatchAugmentation

        return LoadedData(train, test, v2.Compose(crop), v2.Compose(centre), (3, size, size),
                          augmentation=BatchAugmentation(padding=0, flip=True),
                          normalization=(tuple(mean), tuple(std)), per_sample_random=True)
    normalize = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    train_t = v2.Compose(crop + [v2.RandomHorizontalFlip()] + normalize)
    eval_t = v2.Compose(centre + normalize)
    return LoadedData(train, test, train_t, eval_t, (3, size, size), per_sample_random=True)


def _folder_sizes(spec: StreamSpec) -> StreamSizes:
    """Files per training class and the backbone (from the first image's header only)."""
    from PIL import Image

    root = resolve_data_root(spec)
    classes = folder_classes(root)
    paths, labels = folder_files(_folder_split_dirs(root)[0], classes)
    if not paths:
        raise UserError(f"split-folder found no images under {root} ({_FOLDER_LAYOUT})")
    if spec.image_size:
        side = spec.image_size
    else:
        with Image.open(paths[0]) as image:
            side = max(image.size)
    return StreamSizes(np.bincount(labels, minlength=len(classes)).tolist(), backbone_for_side(side))
