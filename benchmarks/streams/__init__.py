"""Class-incremental benchmark streams by name, each a standard Avalanche benchmark.

registry.py holds the names, class orders, phase layout and the builder; each data source
registers itself from its own module (cifar, fmnist, digits, folder). Small datasets are kept
in memory as uint8/float tensors and transformed with ``torchvision.transforms.v2``.
"""

from . import cifar, digits, fmnist, folder  # noqa: F401  (each registers its streams)
from .cifar import CIFAR10_CLASSES, CIFAR100_CLASSES
from .common import TensorImages, per_class_subset
from .digits import DIGITS_CLASSES
from .fmnist import FMNIST_CLASSES
from .folder import IMAGENET_MEAN, IMAGENET_STD, ImageFiles, folder_classes, folder_files
from .registry import (
    DATA_ROOT_ENV,
    DEFAULT_CLASS_ORDER_SEED,
    SMALL_IMAGE_MAX,
    BuiltBenchmark,
    LoadedData,
    StreamLayout,
    StreamSizes,
    StreamSpec,
    build_stream,
    check_normalization,
    class_order,
    data_status,
    describe_stream,
    list_streams,
    per_channel,
    register_stream,
    resolve_data_root,
    stream_channels,
    stream_side,
    stream_sizes,
)

__all__ = [
    "BuiltBenchmark", "CIFAR10_CLASSES", "CIFAR100_CLASSES", "DATA_ROOT_ENV",
    "DEFAULT_CLASS_ORDER_SEED", "DIGITS_CLASSES", "FMNIST_CLASSES", "IMAGENET_MEAN",
    "IMAGENET_STD", "ImageFiles", "LoadedData", "SMALL_IMAGE_MAX", "StreamLayout", "StreamSizes",
    "StreamSpec",
    "TensorImages", "build_stream", "check_normalization", "class_order", "data_status", "describe_stream",
    "folder_classes", "folder_files", "list_streams", "per_channel", "per_class_subset",
    "register_stream", "resolve_data_root", "stream_channels", "stream_side", "stream_sizes",
]
