"""The stream registry and layout: names, class orders, phases, and building the benchmark.

Every stream follows the AANets/LUCIR protocol: a fixed class order drawn with NumPy's legacy
seeding (``np.random.seed(s); np.random.shuffle(arange(C))``; Avalanche's own ``seed=`` uses
torch and gives a different order), a base phase with ``base_classes`` classes, then ``phases``
equal incremental phases. Labels are remapped so class k of the order is label k, and every
experience dataset carries ``train``/``eval`` transform groups (herding uses ``.eval()``).

Each data source (cifar.py, fmnist.py, digits.py, folder.py) registers a loader here; this
module knows no dataset. Avalanche is imported lazily so that ``describe`` and ``list`` stay fast.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from torch.utils.data import Dataset

from benchmarks.errors import UserError

DATA_ROOT_ENV = "AANETS_DATA_ROOT"
DEFAULT_CLASS_ORDER_SEED = 1993
SMALL_IMAGE_MAX = 64  # inputs up to this many pixels use ResNet-32 and crop-with-padding

# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class StreamSpec:
    """Everything that defines a stream; one value, built once at the top (CLI or preset).

    phases: incremental phases after the base phase. base_classes: None = half the classes.
    data_root: None = $AANETS_DATA_ROOT, else ./data (for split-folder: the image tree itself).
    train_per_class / test_per_class: deterministic per-class subsample (seeded by
    class_order_seed), for CPU presets. image_size: split-folder only. mean / std: the
    normalisation statistics (None = the data source's own, e.g. ImageNet's for split-folder).
    class_order: the class order as original class ids (None = drawn with class_order_seed).
    download: let torchvision fetch missing CIFAR/FMNIST files (tests turn it off).
    skip_bad_images: split-folder only: leave unreadable images out (counted) instead of stopping.
    input_pipeline: "batched" (datasets yield uint8 images; augmentation runs once per
    mini-batch on the training device and normalisation is the model's first layer) or
    "per-sample" (torchvision transforms per image in the DataLoader, kept for comparison).
    augment: False trains on the images as they are (no crop, flip or colour jitter), as some
    reference protocols do (Mammoth's seq-mnist); evaluation is the same either way.
    backbone: the network, by name (None: by the image size, backbone_for_side).
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
    class_order: tuple[int, ...] | None = None
    download: bool = True
    skip_bad_images: bool = False
    input_pipeline: str = "batched"
    augment: bool = True
    backbone: str | None = None


INPUT_PIPELINES = ("batched", "per-sample")


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
    backbone: str  # "resnet32" (inputs <= 64 px) or "resnet18"; the spec's, when it names one
    class_names: list[str] | None
    notes: tuple[str, ...] = ()  # what the loader decided for the user (input size, resizing)
    skipped_images: tuple[str, ...] = ()  # unreadable files left out (--skip-bad-images)
    input_pipeline: str = "batched"
    augmentation: Any = None  # aanets_avalanche.augment.BatchAugmentation for training batches
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None  # the model's (mean, std)
    per_sample_random: bool = False  # the datasets' transforms draw random numbers per image
    augmented: bool = True  # False: data.augment=false, no training augmentation anywhere


@dataclass(frozen=True)
class LoadedData:
    """What a data source's loader hands back to build_stream."""

    train: Dataset
    test: Dataset
    train_transform: Callable | None
    eval_transform: Callable | None
    input_shape: tuple[int, int, int]
    notes: tuple[str, ...] = ()
    skipped_images: tuple[str, ...] = ()
    augmentation: Any = None  # batched path: what BatchAugmentPlugin applies per mini-batch
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None  # batched path
    per_sample_random: bool = False


@dataclass(frozen=True)
class StreamSizes:
    """What a plan (compare --dry-run) needs before any image is decoded."""

    train_per_class: list[int]  # training images of each class, indexed by original class id
    backbone: str               # as build_stream will choose (by size, or the spec's)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class _StreamDef:
    name: str
    description: str
    class_names: Callable[[StreamSpec], list[str]]  # cheap: no image is read
    load: Callable[[StreamSpec, Path], LoadedData]
    sizes: Callable[[StreamSpec], StreamSizes] | None = None  # cheap: no image is decoded
    channels: int | None = None  # colour channels of its images (None: not known before loading)
    files: str | None = None  # what must lie under the data root (None: nothing to find there)
    side: int | None = None  # the images' native side in pixels (None: known only from the data)


_REGISTRY: dict[str, _StreamDef] = {}


def register_stream(name: str, description: str, class_names: Callable[[StreamSpec], list[str]],
                    sizes: Callable[[StreamSpec], StreamSizes] | None = None,
                    channels: int | None = None, files: str | None = None,
                    side: int | None = None):
    """Decorator: register ``load(spec, data_root) -> LoadedData`` under ``name``; ``sizes``
    tells the dry-run plan the training images per class and the backbone without loading;
    ``channels`` (1 grey, 3 RGB) lets a plan check ``mean``/``std`` before any data is read;
    ``files``: the file or folder under the data root that holds the data (the dry run says
    whether it is there); ``side``: the images' native side (the dry run's time estimate)."""

    def decorate(load: Callable[[StreamSpec, Path], LoadedData]):
        _REGISTRY[name] = _StreamDef(name, description, class_names, load, sizes, channels, files,
                                     side)
        return load

    return decorate


def data_status(spec: StreamSpec) -> str:
    """Where a stream's data will be read from and whether it is there, in one line (the dry
    run prints it; nothing is read or downloaded)."""
    definition = _stream_def(spec.name)
    if definition.files is None:
        if spec.name == "split-folder":
            return f"data: the image tree {resolve_data_root(spec)} (found: its classes were listed)"
        return "data: bundled with its package (nothing to find or download)"
    where = resolve_data_root(spec) / definition.files
    if where.exists():
        return f"data: found at {where}"
    how = ("the run will try to download it there (needs the dataset's host)" if spec.download
           else "and downloads are off")
    return (f"data: MISSING at {where}; {how}; offline, point --data-root or ${DATA_ROOT_ENV} "
            f"at a folder that holds {definition.files}")


def stream_side(name: str) -> int | None:
    """The native side in pixels of a registered stream's images (None: its data decides)."""
    return _stream_def(name).side


def stream_channels(name: str) -> int | None:
    """Colour channels of a registered stream's images (None: its loader decides)."""
    return _stream_def(name).channels


def check_normalization(spec: StreamSpec) -> None:
    """UserError unless ``spec.mean`` / ``spec.std`` fit the stream: one value per channel (or
    one for every channel), finite, the same count for both, std > 0. Nothing is read."""
    channels = stream_channels(spec.name)
    given = {key: tuple(values) for key, values in (("data.mean", spec.mean),
                                                    ("data.std", spec.std)) if values is not None}
    for key, values in given.items():
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in values):
            raise UserError(f"{key} must be finite numbers, got {list(values)}")
        if channels is not None and len(values) not in (1, channels):
            raise UserError(f"{key} has {len(values)} values but {spec.name} images have "
                            f"{channels} channel{'s' if channels > 1 else ''}: give "
                            + (f"{channels} values (one per channel) or 1" if channels > 1
                               else "1 value"))
    if len(given) == 2 and len(given["data.mean"]) != len(given["data.std"]):
        raise UserError(f"data.mean has {len(given['data.mean'])} values but data.std has "
                        f"{len(given['data.std'])}: give both the same count (one per channel)")
    if "data.std" in given and any(v <= 0 for v in given["data.std"]):
        raise UserError(f"data.std must be positive, got {list(given['data.std'])}")


def per_channel(values: tuple[float, ...] | list[float], channels: int) -> tuple[float, ...]:
    """One value for every channel -> that value per channel; anything else unchanged."""
    values = tuple(float(v) for v in values)
    return values * channels if len(values) == 1 else values


def stream_sizes(spec: StreamSpec) -> StreamSizes | None:
    """Training images per class and backbone of a stream without loading it (None: unknown)."""
    sizes = _stream_def(spec.name).sizes
    if sizes is None:
        return None
    found = sizes(spec)
    return dataclasses.replace(found, backbone=spec.backbone) if spec.backbone else found


def backbone_for_side(side: int) -> str:
    """Inputs up to SMALL_IMAGE_MAX pixels use ResNet-32, larger ones ResNet-18."""
    return "resnet32" if side <= SMALL_IMAGE_MAX else "resnet18"


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


MAX_CLASS_ORDER_SEED = 2**32 - 1  # NumPy's RandomState accepts 0 .. 2**32 - 1


def describe_stream(spec: StreamSpec) -> StreamLayout:
    """Class order and per-phase classes without loading images (split-folder lists folders)."""
    if (isinstance(spec.class_order_seed, bool) or not isinstance(spec.class_order_seed, int)
            or not 0 <= spec.class_order_seed <= MAX_CLASS_ORDER_SEED):
        raise UserError(f"--class-order-seed must be an integer in 0..{MAX_CLASS_ORDER_SEED}, "
                        f"got {spec.class_order_seed}")
    definition = _stream_def(spec.name)
    check_normalization(spec)  # before the class names: a folder tree is not even listed
    names = definition.class_names(spec)
    phases = _phase_classes(spec, len(names))
    return StreamLayout(spec.name, _class_order(spec, len(names)), phases, names)


def _class_order(spec: StreamSpec, num_classes: int) -> list[int]:
    """The given class order (checked: every class id once) or the seeded one."""
    if spec.class_order is None:
        return class_order(num_classes, spec.class_order_seed)
    order = [int(c) for c in spec.class_order]
    if sorted(order) != list(range(num_classes)):
        raise UserError(f"the class order must list each of the {num_classes} class ids of "
                        f"{spec.name} (0..{num_classes - 1}) exactly once; got {len(order)} ids")
    return order


def resolve_data_root(spec: StreamSpec) -> Path:
    """--data-root flag value, else $AANETS_DATA_ROOT, else ./data."""
    return Path(spec.data_root or os.environ.get(DATA_ROOT_ENV) or "data").expanduser()


# --------------------------------------------------------------------------- build


def build_stream(spec: StreamSpec) -> BuiltBenchmark:
    """Build the Avalanche benchmark for ``spec`` (loads data; may download CIFAR/FMNIST)."""
    from avalanche.benchmarks import nc_benchmark  # imported here: avalanche takes ~10 s

    layout = describe_stream(spec)  # validates name/phases before any data is touched
    if spec.input_pipeline not in INPUT_PIPELINES:
        raise UserError(f"unknown input pipeline {spec.input_pipeline!r}; use one of "
                        f"{', '.join(INPUT_PIPELINES)}")
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
        backbone=spec.backbone or backbone_for_side(side),
        class_names=layout.class_names,
        notes=loaded.notes + (() if spec.augment else (
            "training images not augmented (data.augment=false)",)),
        skipped_images=loaded.skipped_images,
        input_pipeline=spec.input_pipeline,
        augmentation=loaded.augmentation,
        normalization=loaded.normalization,
        per_sample_random=loaded.per_sample_random,
        augmented=spec.augment,
    )
