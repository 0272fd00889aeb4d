"""Class-incremental benchmark streams by name, each a standard Avalanche benchmark.

Every stream follows the AANets/LUCIR protocol: a fixed class order drawn with NumPy's legacy
seeding (``np.random.seed(s); np.random.shuffle(arange(C))``; Avalanche's own ``seed=`` uses
torch and gives a different order), a base phase with ``base_classes`` classes, then ``phases``
equal incremental phases. Labels are remapped so class k of the order is label k, and every
experience dataset carries ``train``/``eval`` transform groups (herding uses ``.eval()``).

Small datasets are kept in memory as uint8/float tensors and transformed with
``torchvision.transforms.v2`` (no PIL round trip per sample). Avalanche is imported lazily so
that ``describe`` and ``list`` stay fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from benchmarks.errors import UserError

DATA_ROOT_ENV = "AANETS_DATA_ROOT"
DEFAULT_CLASS_ORDER_SEED = 1993
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SMALL_IMAGE_MAX = 64  # inputs up to this many pixels use ResNet-32 and crop-with-padding

# Standard label names (the datasets' own `classes` lists) so `describe` needs no data on disk.
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]
FMNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
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
DIGITS_CLASSES = [str(d) for d in range(10)]


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class StreamSpec:
    """Everything that defines a stream; one value, built once at the top (CLI or preset).

    phases: incremental phases after the base phase. base_classes: None = half the classes.
    data_root: None = $AANETS_DATA_ROOT, else ./data (for split-folder: the image tree itself).
    train_per_class / test_per_class: deterministic per-class subsample (seeded by
    class_order_seed), for CPU presets. image_size / mean / std: split-folder only.
    download: let torchvision fetch missing CIFAR/FMNIST files (tests turn it off).
    """

    name: str
    phases: int = 5
    base_classes: int | None = None
    class_order_seed: int = DEFAULT_CLASS_ORDER_SEED
    data_root: str | None = None
    train_per_class: int | None = None
    test_per_class: int | None = None
    image_size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    download: bool = True


@dataclass(frozen=True)
class StreamLayout:
    """Class order and phases of a stream, known without loading any images."""

    name: str
    class_order: list[int]  # original class ids, in order of appearance
    phase_classes: list[list[int]]  # remapped labels (= positions in class_order) per phase
    class_names: list[str] | None  # indexed by original class id

    @property
    def num_classes(self) -> int:
        return len(self.class_order)


@dataclass(frozen=True)
class BuiltBenchmark:
    """A ready Avalanche benchmark plus what a runner needs to size the model."""

    benchmark: Any  # avalanche NCScenario: train_stream / test_stream
    class_order: list[int]
    phase_classes: list[list[int]]
    num_classes: int
    input_shape: tuple[int, int, int]  # (C, H, W) as fed to the model
    backbone: str  # "resnet32" (inputs <= 64 px) or "resnet18"
    class_names: list[str] | None


# --------------------------------------------------------------------------- datasets


class TensorImages(Dataset):
    """Images held in memory as one tensor [N, C, H, W]; ``targets`` is what Avalanche reads."""

    def __init__(self, images: torch.Tensor, targets: Sequence[int]):
        self.images = images
        self.targets = [int(t) for t in targets]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        return self.images[index], self.targets[index]


class ImageFiles(Dataset):
    """Image files decoded on access (for large images that do not fit in memory)."""

    def __init__(self, paths: Sequence[str], targets: Sequence[int]):
        self.paths = list(paths)
        self.targets = [int(t) for t in targets]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        return _decode_rgb(self.paths[index]), self.targets[index]


@dataclass(frozen=True)
class _Loaded:
    """What a stream loader hands back to build_stream."""

    train: Dataset
    test: Dataset
    train_transform: Callable
    eval_transform: Callable
    input_shape: tuple[int, int, int]


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class _StreamDef:
    name: str
    description: str
    class_names: Callable[[StreamSpec], list[str]]  # cheap: no image is read
    load: Callable[[StreamSpec, Path], _Loaded]


_REGISTRY: dict[str, _StreamDef] = {}


def register_stream(name: str, description: str, class_names: Callable[[StreamSpec], list[str]]):
    """Decorator: register ``load(spec, data_root) -> _Loaded`` under ``name``."""

    def decorate(load: Callable[[StreamSpec, Path], _Loaded]):
        _REGISTRY[name] = _StreamDef(name, description, class_names, load)
        return load

    return decorate


def list_streams() -> list[tuple[str, str]]:
    """(name, one-line description) of every registered stream."""
    return [(d.name, d.description) for d in _REGISTRY.values()]


def _stream_def(name: str) -> _StreamDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(_REGISTRY)
        raise UserError(f"unknown benchmark '{name}'; valid benchmarks: {valid}") from None


# --------------------------------------------------------------------------- layout


def class_order(num_classes: int, seed: int) -> list[int]:
    """The reference implementation's order: np.random.seed(seed); shuffle(arange(C))."""
    order = np.arange(num_classes)
    np.random.RandomState(seed).shuffle(order)  # same stream as the legacy global seed
    return order.tolist()


def _base_classes(spec: StreamSpec, num_classes: int) -> int:
    base = num_classes // 2 if spec.base_classes is None else spec.base_classes
    if not 1 <= base < num_classes:
        raise UserError(
            f"base_classes={base} is out of range for {spec.name} ({num_classes} classes); "
            f"use 1..{num_classes - 1}"
        )
    return base


def _phase_classes(spec: StreamSpec, num_classes: int) -> list[list[int]]:
    base = _base_classes(spec, num_classes)
    rest = num_classes - base
    if spec.phases < 1 or rest % spec.phases:
        valid = ", ".join(str(n) for n in range(1, rest + 1) if rest % n == 0)
        raise UserError(
            f"phases={spec.phases} does not divide the {rest} incremental classes of "
            f"{spec.name} (base_classes={base}); valid phase counts: {valid}"
        )
    step = rest // spec.phases
    phases = [list(range(base))]
    phases += [list(range(start, start + step)) for start in range(base, num_classes, step)]
    return phases


def describe_stream(spec: StreamSpec) -> StreamLayout:
    """Class order and per-phase classes without loading images (split-folder lists folders)."""
    definition = _stream_def(spec.name)
    names = definition.class_names(spec)
    phases = _phase_classes(spec, len(names))
    return StreamLayout(spec.name, class_order(len(names), spec.class_order_seed), phases, names)


def resolve_data_root(spec: StreamSpec) -> Path:
    """--data-root flag value, else $AANETS_DATA_ROOT, else ./data."""
    return Path(spec.data_root or os.environ.get(DATA_ROOT_ENV) or "data").expanduser()


# --------------------------------------------------------------------------- build


def build_stream(spec: StreamSpec) -> BuiltBenchmark:
    """Build the Avalanche benchmark for ``spec`` (loads data; may download CIFAR/FMNIST)."""
    from avalanche.benchmarks import nc_benchmark  # imported here: avalanche takes ~10 s

    layout = describe_stream(spec)  # validates name/phases before any data is touched
    loaded = _stream_def(spec.name).load(spec, resolve_data_root(spec))
    benchmark = nc_benchmark(
        loaded.train,
        loaded.test,
        n_experiences=len(layout.phase_classes),
        task_labels=False,
        shuffle=False,
        fixed_class_order=layout.class_order,
        per_exp_classes={0: len(layout.phase_classes[0])},
        class_ids_from_zero_from_first_exp=True,
        train_transform=loaded.train_transform,
        eval_transform=loaded.eval_transform,
    )
    side = max(loaded.input_shape[1:])
    return BuiltBenchmark(
        benchmark=benchmark,
        class_order=layout.class_order,
        phase_classes=layout.phase_classes,
        num_classes=layout.num_classes,
        input_shape=loaded.input_shape,
        backbone="resnet32" if side <= SMALL_IMAGE_MAX else "resnet18",
        class_names=layout.class_names,
    )


# --------------------------------------------------------------------------- helpers


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


def _transforms(size: int, mean: Sequence[float], std: Sequence[float], augment: bool):
    """Train/eval transforms for tensor images at native size (crop with padding + flip)."""
    from torchvision.transforms import v2

    normalize = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    augmentation = [v2.RandomCrop(size, padding=size // 8), v2.RandomHorizontalFlip()]
    train = v2.Compose((augmentation if augment else []) + normalize)
    return train, v2.Compose(normalize)


def _subset_tensors(images: torch.Tensor, targets: Sequence[int], per_class: int | None,
                    seed: int) -> TensorImages:
    keep = per_class_subset(targets, per_class, seed)
    return TensorImages(images[torch.from_numpy(keep)], np.asarray(targets)[keep])


def _torchvision_dataset(factory: Callable, spec: StreamSpec, root: Path, what: str, layout: str):
    """Open a torchvision dataset, downloading only if its files are missing."""
    try:
        return factory(root=str(root), download=False)
    except RuntimeError:  # torchvision: "Dataset not found or corrupted"
        pass
    hint = f"point --data-root or ${DATA_ROOT_ENV} at a folder that holds {layout}"
    if not spec.download:
        raise UserError(f"{what} not found in {root} (expected {root / layout}); {hint}") from None
    try:
        return factory(root=str(root), download=True)
    except Exception as exc:  # no network, proxy, disk full: all end the same way for the user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(
            f"{what} not found in {root} (expected {root / layout}) and the download failed "
            f"({reason}); {hint}"
        ) from None


def _cifar(spec: StreamSpec, root: Path, cls_name: str, what: str, layout: str, mean,
           std) -> _Loaded:
    import torchvision.datasets as tvd

    factory = getattr(tvd, cls_name)
    parts = []
    for train, per_class in ((True, spec.train_per_class), (False, spec.test_per_class)):
        ds = _torchvision_dataset(lambda **kw: factory(train=train, **kw), spec, root,
                                  what, layout)
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # HWC -> CHW uint8
        parts.append(_subset_tensors(images, ds.targets, per_class, spec.class_order_seed))
    train_t, eval_t = _transforms(32, mean, std, augment=True)
    return _Loaded(parts[0], parts[1], train_t, eval_t, (3, 32, 32))


# --------------------------------------------------------------------------- streams


@register_stream(
    "split-cifar100",
    "CIFAR-100, B50 + N phases, seed-1993 order (the AANets paper's main protocol)",
    lambda spec: CIFAR100_CLASSES,
)
def _load_cifar100(spec: StreamSpec, root: Path) -> _Loaded:
    return _cifar(spec, root, "CIFAR100", "CIFAR-100", "cifar-100-python/",
                  (0.5071, 0.4866, 0.4409), (0.2009, 0.1984, 0.2023))


@register_stream(
    "split-cifar10",
    "CIFAR-10 (torchvision layout), B5 + N phases",
    lambda spec: CIFAR10_CLASSES,
)
def _load_cifar10(spec: StreamSpec, root: Path) -> _Loaded:
    return _cifar(spec, root, "CIFAR10", "CIFAR-10", "cifar-10-batches-py/",
                  (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))


@register_stream(
    "split-fmnist",
    "Fashion-MNIST 28x28 grey (torchvision layout), B5 + N phases",
    lambda spec: FMNIST_CLASSES,
)
def _load_fmnist(spec: StreamSpec, root: Path) -> _Loaded:
    from torchvision.datasets import FashionMNIST

    parts = []
    for train, per_class in ((True, spec.train_per_class), (False, spec.test_per_class)):
        ds = _torchvision_dataset(lambda **kw: FashionMNIST(train=train, **kw), spec, root,
                                  "Fashion-MNIST", "FashionMNIST/raw/ (the four IDX files)")
        parts.append(_subset_tensors(ds.data.unsqueeze(1), ds.targets.tolist(), per_class,
                                     spec.class_order_seed))
    train_t, eval_t = _transforms(28, (0.2860,), (0.3530,), augment=True)
    return _Loaded(parts[0], parts[1], train_t, eval_t, (1, 28, 28))


@register_stream(
    "split-digits",
    "scikit-learn's bundled 8x8 digits (no download; CPU demo in minutes), B5 + N phases",
    lambda spec: DIGITS_CLASSES,
)
def _load_digits(spec: StreamSpec, root: Path) -> _Loaded:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from torchvision.transforms import v2

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)  # [0, 1]
    train_idx, test_idx = train_test_split(  # fixed, stratified 2/3 : 1/3 split
        np.arange(len(digits.target)), test_size=1 / 3, stratify=digits.target, random_state=0
    )
    train = _subset_tensors(images[train_idx], digits.target[train_idx], spec.train_per_class,
                            spec.class_order_seed)
    test = _subset_tensors(images[test_idx], digits.target[test_idx], spec.test_per_class,
                           spec.class_order_seed)
    train_pixels = images[train_idx]
    normalize = v2.Normalize([float(train_pixels.mean())], [float(train_pixels.std())])
    return _Loaded(train, test, normalize, normalize, (1, 8, 8))  # no augmentation at 8x8


# --------------------------------------------------------------------------- split-folder

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


@register_stream(
    "split-folder",
    "any class-per-folder image tree with train/ and val/ or test/ (e.g. ImageNet-Subset); "
    "--data-root is the tree",
    lambda spec: folder_classes(resolve_data_root(spec)),
)
def _load_folder(spec: StreamSpec, root: Path) -> _Loaded:
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
        train_t, eval_t = _transforms(size, mean, std, augment=True)
        return _Loaded(train, test, train_t, eval_t, (3, size, size))

    size = spec.image_size or 224  # ImageNet recipe for large images, decoded per access
    normalize = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    train_t = v2.Compose([v2.RandomResizedCrop(size, antialias=True),
                          v2.RandomHorizontalFlip()] + normalize)
    eval_t = v2.Compose([v2.Resize(round(size * 256 / 224), antialias=True),
                         v2.CenterCrop(size)] + normalize)
    train, test = (ImageFiles(p, y) for p, y in splits)
    return _Loaded(train, test, train_t, eval_t, (3, size, size))
