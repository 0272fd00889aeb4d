"""Any class-per-folder image tree (ImageNet-Subset layout): small images decoded once into
memory, large ones decoded per access with the ImageNet recipe.

The tree is checked before training, every problem named in one line: a class folder that is
missing, empty, a symbolic link that leads nowhere (a loop, a missing target) or holds its
images only in sub-folders, a class in one split only, unreadable images, dangling or looping
image links included (listed; ``--skip-bad-images`` leaves them out and the run record counts
them). The input size comes from the whole training tree, not from one image: the most common
image size decides (its longer side), images of other sizes are resized, and the choice and the
backbone it implies are printed; ``image_size`` in the preset (or ``--set data.image_size=...``)
overrides it.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from benchmarks.errors import UserError

from .common import TensorImages, per_class_subset, small_image_pipeline
from .registry import (DATA_ROOT_ENV, SMALL_IMAGE_MAX, LoadedData, StreamSizes, StreamSpec,
                       backbone_for_side, per_channel, register_stream, resolve_data_root)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
_FOLDER_LAYOUT = "<root>/train/<class>/*.jpg and <root>/val/<class>/ (or test/)"


def _link_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` (a symbolic link) leads nowhere: 'a symbolic link loop', 'a broken symbolic
    link (to X)', ...; None when it resolves (or is no link)."""
    try:
        os.stat(path)
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        try:
            target = os.readlink(path)
        except OSError:
            return f"unreadable ({exc.strerror or exc})"
        if exc.errno == errno.ENOENT:
            return f"a broken symbolic link (to {target}, which does not exist)"
        return f"a symbolic link to {target} that cannot be followed ({exc.strerror or exc})"


def _broken_folder(path: Path, what: str) -> UserError:
    return UserError(f"{what} {path} is {_link_problem(path)}: fix the link or remove it")


def _folder_split_dirs(root: Path) -> tuple[Path, Path]:
    for split in ("train", "val", "test"):
        if (root / split).is_symlink() and _link_problem(root / split):
            raise _broken_folder(root / split, "split folder")
    test_dir = next((root / s for s in ("val", "test") if (root / s).is_dir()), None)
    if not (root / "train").is_dir() or test_dir is None:
        raise UserError(
            f"split-folder needs a class-per-folder image tree at {root} "
            f"({_FOLDER_LAYOUT}); point --data-root or ${DATA_ROOT_ENV} at it"
        )
    return root / "train", test_dir


def _class_dirs(split_dir: Path) -> list[str]:
    """Sorted names of the class folders in ``split_dir``; UserError naming the first entry that
    is a symbolic link leading nowhere (a loop, a missing target): it may be a class folder,
    and dropping it silently would train on fewer classes."""
    names = []
    for entry in sorted(os.scandir(split_dir), key=lambda e: e.name):
        try:
            if entry.is_dir():
                names.append(entry.name)
                continue
        except OSError:  # ELOOP: is_dir() only swallows a missing target
            pass
        if entry.is_symlink() and _link_problem(entry.path):
            raise _broken_folder(split_dir / entry.name, "class folder")
    return names


def folder_classes(root: Path) -> list[str]:
    """Class names of a split-folder tree: the sorted sub-folders of train/ (ImageFolder order)."""
    train_dir, _ = _folder_split_dirs(root)
    classes = _class_dirs(train_dir)
    if len(classes) < 2:
        raise UserError(f"split-folder found {len(classes)} class folder(s) in {train_dir}; "
                        "need at least 2")
    return classes


# --------------------------------------------------------------------------- tree checks
# Every problem of a user's tree is found before training and named in one line: a traceback
# from deep inside a DataLoader three phases in says nothing about which folder to fix.

_SHOWN_BAD_FILES = 3


def _images_in(folder: Path) -> list[str]:
    """The image files of a class folder, by name; a symbolic link that leads nowhere (a loop, a
    missing target) is kept, so that check_images counts it as an unreadable image."""
    out = []
    for entry in os.scandir(folder):
        if not entry.name.lower().endswith(_IMAGE_EXTENSIONS):
            continue
        try:
            keep = entry.is_file() or entry.is_symlink()  # is_file(): False for a dangling link
        except OSError:  # ELOOP
            keep = True
        if keep:
            out.append(entry.path)
    return sorted(out)


def _nested_images(folder: Path) -> tuple[int, list[str]]:
    """(count, first sub-folders) of images below ``folder``'s sub-folders."""
    count, where = 0, []
    for sub, _, files in os.walk(folder):
        if Path(sub) == folder:
            continue
        found = sum(1 for f in files if f.lower().endswith(_IMAGE_EXTENSIONS))
        if found:
            count += found
            where.append(str(Path(sub).relative_to(folder)))
    return count, where


def folder_files(split_dir: Path, classes: Sequence[str]) -> tuple[list[str], list[int]]:
    """(paths, labels) of every image in a class-per-folder split, sorted; nothing is decoded.
    UserError naming the folder when a class folder is missing or holds no image directly."""
    paths, labels, problems = [], [], []
    present = _class_dirs(split_dir)  # a class folder that is a broken link: named here
    for label, name in enumerate(classes):
        class_dir = split_dir / name
        if name not in present:
            problems.append(f"class folder {class_dir} is missing ({split_dir.parent} must have "
                            "the same classes in train/ and val/ or test/)")
            continue
        files = _images_in(class_dir)
        if not files:
            nested, where = _nested_images(class_dir)
            if nested:
                problems.append(f"class folder {class_dir} holds no image directly but {nested} in "
                                f"sub-folder(s) {', '.join(where[:3])}; split-folder reads only "
                                f"<class>/*.jpg: move them up into {class_dir}")
            else:
                problems.append(f"class folder {class_dir} holds no image "
                                f"({', '.join(_IMAGE_EXTENSIONS)})")
            continue
        paths += files
        labels += [label] * len(files)
    extra = [name for name in present if name not in set(classes)]
    if extra:
        problems.append(f"{split_dir} has class folder(s) {', '.join(extra[:5])} that "
                        f"{split_dir.parent / 'train'} does not have; both splits need the same classes")
    _raise_problems(problems)
    return paths, labels


def _raise_problems(problems: list[str]) -> None:
    if problems:
        more = f" (and {len(problems) - 1} more problem(s) in the tree)" if len(problems) > 1 else ""
        raise UserError(problems[0] + more)


def _probe_image(path: str) -> tuple[int, int]:
    """(width, height) of a readable image; decodes it (reduced scale for JPEG) so a
    truncated file fails here, not in the middle of training. OSError/ValueError if not."""
    from PIL import Image

    with Image.open(path) as image:
        size = image.size
        image.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
        image.load()
    return size


def check_images(paths: Sequence[str], *, skip_bad: bool
                 ) -> tuple[list[int], list[tuple[int, int]], list[str]]:
    """(indices of readable images, their sizes, unreadable paths). Unreadable images are a
    UserError listing the first few, unless ``skip_bad`` (then they are left out)."""
    from PIL import Image, UnidentifiedImageError

    good, sizes, bad = [], [], []
    for i, path in enumerate(paths):
        try:
            sizes.append(_probe_image(path))
            good.append(i)
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError,
                SyntaxError):
            bad.append(path)
    if bad and not skip_bad:
        shown = ", ".join(bad[:_SHOWN_BAD_FILES]) + (" ..." if len(bad) > _SHOWN_BAD_FILES else "")
        raise UserError(f"{len(bad)} image(s) cannot be read: {shown}; fix or remove them, or "
                        "pass --skip-bad-images to train without them (counted in the run record)")
    return good, sizes, bad


def input_size_rule(sizes: Sequence[tuple[int, int]]) -> tuple[int, str]:
    """The input side and a note saying why. Rule: the most common (width, height) among the
    training images decides; the input side is its longer side."""
    counts = Counter(sizes)
    (width, height), count = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    side = max(width, height)
    others = len(sizes) - count
    note = (f"input size {side} px: the most common training image size ({width}x{height}, "
            f"{count} of {len(sizes)} images)")
    if others:
        note += f"; {others} image(s) of other sizes are resized"
    return side, note


def decode_rgb(path: str) -> torch.Tensor:
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
        image = decode_rgb(path)
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
        return decode_rgb(self.paths[index]), self.targets[index]



@register_stream(
    "split-folder",
    "any class-per-folder image tree with train/ and val/ or test/ (e.g. ImageNet-Subset); "
    "--data-root is the tree",
    lambda spec: folder_classes(resolve_data_root(spec)),
    sizes=lambda spec: _folder_sizes(spec),
    channels=3,  # every image is decoded as RGB (decode_rgb)
)
def _load_folder(spec: StreamSpec, root: Path) -> LoadedData:
    from torchvision.transforms import v2

    classes = folder_classes(root)
    train_dir, test_dir = _folder_split_dirs(root)
    splits, sizes, skipped = [], [], []
    for split_dir, per_class in ((train_dir, spec.train_per_class),
                                 (test_dir, spec.test_per_class)):
        paths, labels = folder_files(split_dir, classes)
        keep = per_class_subset(labels, per_class, spec.class_order_seed)  # before decoding
        paths, labels = [paths[i] for i in keep], [labels[i] for i in keep]
        good, split_sizes, bad = check_images(paths, skip_bad=spec.skip_bad_images)
        splits.append(([paths[i] for i in good], [labels[i] for i in good]))
        sizes.append(split_sizes)
        skipped += bad
    for (paths, labels), split_dir in zip(splits, (train_dir, test_dir)):
        empty = [classes[c] for c in range(len(classes)) if c not in set(labels)]
        if empty:
            raise UserError(f"no readable image left in class folder(s) {', '.join(empty[:5])} "
                            f"of {split_dir}")

    notes = []
    if skipped:
        notes.append(f"split-folder: left out {len(skipped)} unreadable image(s) "
                     f"(--skip-bad-images), e.g. {skipped[0]}")
    if spec.image_size:
        size = spec.image_size
        notes.append(f"split-folder: input size {size} px (set in the configuration)")
    else:
        size, why = input_size_rule(sizes[0])
        notes.append(f"split-folder: {why}")
    mean = per_channel(spec.mean or IMAGENET_MEAN, 3)
    std = per_channel(spec.std or IMAGENET_STD, 3)
    if size <= SMALL_IMAGE_MAX:  # CIFAR-like: decode once, keep in memory, pad-crop + flip
        notes.append(f"split-folder: {size} px <= {SMALL_IMAGE_MAX} px: ResNet-32, images kept "
                     "in memory, pad-and-crop + flip")
        train, test = (TensorImages(_decode_all(p, size), y) for p, y in splits)
        loaded = small_image_pipeline(spec, size, mean, std, (train, test), (3, size, size))
        return dataclasses.replace(loaded, notes=tuple(notes), skipped_images=tuple(skipped))

    # ImageNet recipe for large images, decoded per access (in the loader workers). Batched:
    # the workers decode + RandomResizedCrop to uint8; flip and normalisation run per
    # mini-batch on the device (uint8 crosses to the GPU, a quarter of the float32 bytes).
    size = spec.image_size or 224
    notes.append(f"split-folder: images over {SMALL_IMAGE_MAX} px: ResNet-18, ImageNet recipe "
                 f"(RandomResizedCrop {size} + flip; test Resize {round(size * 256 / 224)} + "
                 f"CenterCrop {size})")
    centre = [v2.Resize(round(size * 256 / 224), antialias=True), v2.CenterCrop(size)]
    # data.augment=false: training images resized and centre-cropped as the test images
    crop = [v2.RandomResizedCrop(size, antialias=True)] if spec.augment else centre
    train, test = (ImageFiles(p, y) for p, y in splits)
    if spec.input_pipeline == "batched":
        from aanets_avalanche.augment import BatchAugmentation

        return LoadedData(train, test, v2.Compose(crop), v2.Compose(centre), (3, size, size),
                          tuple(notes), tuple(skipped),
                          augmentation=(BatchAugmentation(padding=0, flip=True)
                                        if spec.augment else None),
                          normalization=(tuple(mean), tuple(std)),
                          per_sample_random=spec.augment)
    normalize = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    flip = [v2.RandomHorizontalFlip()] if spec.augment else []
    train_t = v2.Compose(crop + flip + normalize)
    eval_t = v2.Compose(centre + normalize)
    return LoadedData(train, test, train_t, eval_t, (3, size, size), tuple(notes), tuple(skipped),
                      per_sample_random=spec.augment)


def _folder_sizes(spec: StreamSpec) -> StreamSizes:
    """Files per training class and the backbone, by the same size rule as the loader but from
    the image headers only (nothing decoded; unreadable files are the loader's to report)."""
    from PIL import Image

    root = resolve_data_root(spec)
    classes = folder_classes(root)
    train_dir, test_dir = _folder_split_dirs(root)
    paths, labels = folder_files(train_dir, classes)
    folder_files(test_dir, classes)  # its folders checked as the loader will (files only listed)
    side = spec.image_size
    if not side:
        sizes = []
        for i in per_class_subset(labels, spec.train_per_class, spec.class_order_seed):
            try:
                with Image.open(paths[i]) as image:
                    sizes.append(image.size)
            except (OSError, ValueError, SyntaxError):
                continue
        if not sizes:
            raise UserError(f"split-folder found no readable image under {root} ({_FOLDER_LAYOUT})")
        side, _ = input_size_rule(sizes)
    return StreamSizes(np.bincount(labels, minlength=len(classes)).tolist(), backbone_for_side(side))
