"""Pieces shared by the data sources: in-memory image datasets, per-class subsamples,
the small-image transforms and opening torchvision datasets with a clear error offline."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from benchmarks.errors import UserError

from .registry import DATA_ROOT_ENV, LoadedData, StreamSpec


class TensorImages(Dataset):
    """Images held in memory as one tensor [N, C, H, W]; ``targets`` is what Avalanche reads."""

    def __init__(self, images: torch.Tensor, targets: Sequence[int]):
        self.images = images
        self.targets = [int(t) for t in targets]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        return self.images[index], self.targets[index]


def per_class_subset(targets: Sequence[int], per_class: int | None, seed: int) -> np.ndarray:
    """Sorted indices of ``per_class`` random samples of every class (all if None or fewer)."""
    targets = np.asarray(targets)
    if per_class is None:
        return np.arange(len(targets))
    if per_class < 1:
        raise UserError(f"per-class sample count must be >= 1, got {per_class}")
    perm = np.random.RandomState(seed).permutation(len(targets))
    perm = perm[np.argsort(targets[perm], kind="stable")]  # grouped by class, shuffled inside
    labels = targets[perm]
    first = np.searchsorted(labels, labels, side="left")  # start of each sample's class group
    rank = np.arange(len(perm)) - first
    return np.sort(perm[rank < per_class])


def small_image_transforms(size: int, mean: Sequence[float], std: Sequence[float], augment: bool):
    """Train/eval transforms for tensor images at native size (crop with padding + flip)."""
    from torchvision.transforms import v2

    normalize = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    augmentation = [v2.RandomCrop(size, padding=size // 8), v2.RandomHorizontalFlip()]
    train = v2.Compose((augmentation if augment else []) + normalize)
    return train, v2.Compose(normalize)


def small_image_pipeline(spec: StreamSpec, size: int, mean: Sequence[float], std: Sequence[float],
                         images: tuple[Dataset, Dataset], input_shape: tuple[int, int, int]):
    """LoadedData for in-memory uint8 images with pad-crop (size // 8) + flip (unless
    ``spec.augment`` is False) and normalisation: per mini-batch on the device ("batched") or
    per image in the DataLoader ("per-sample")."""
    train, test = images
    if spec.input_pipeline == "per-sample":
        train_t, eval_t = small_image_transforms(size, mean, std, augment=spec.augment)
        return LoadedData(train, test, train_t, eval_t, input_shape,
                          per_sample_random=spec.augment)
    from aanets_avalanche.augment import BatchAugmentation

    return LoadedData(train, test, None, None, input_shape,
                      augmentation=(BatchAugmentation(padding=size // 8, flip=True)
                                    if spec.augment else None),
                      normalization=(tuple(mean), tuple(std)))


def subset_tensors(images: torch.Tensor, targets: Sequence[int], per_class: int | None,
                    seed: int) -> TensorImages:
    keep = per_class_subset(targets, per_class, seed)
    return TensorImages(images[torch.from_numpy(keep)], np.asarray(targets)[keep])


def _remove_empty_tree(root: Path) -> None:
    """Remove ``root`` if it holds nothing but empty folders (what a failed download made)."""
    if not root.is_dir() or any(p.is_file() or p.is_symlink() for p in root.rglob("*")):
        return
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        folder.rmdir()
    root.rmdir()


def open_torchvision_dataset(factory: Callable, spec: StreamSpec, root: Path, what: str, layout: str):
    """Open a torchvision dataset, downloading only if its files are missing."""
    try:
        return factory(root=str(root), download=False)
    except RuntimeError:  # torchvision: "Dataset not found or corrupted"
        pass
    hint = f"point --data-root or ${DATA_ROOT_ENV} at a folder that holds {layout}"
    if not spec.download:
        raise UserError(f"{what} not found in {root} (expected {root / layout}); {hint}") from None
    existed = Path(root).exists()
    try:
        return factory(root=str(root), download=True)
    except Exception as exc:  # no network, proxy, disk full: all end the same way for the user
        if not existed:  # the failed download leaves no empty folder of ours behind
            _remove_empty_tree(Path(root))
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(
            f"{what} not found in {root} (expected {root / layout}) and the download failed "
            f"({reason}); {hint}"
        ) from None
