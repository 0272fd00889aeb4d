"""Methods by name: the registry (registry.py) and the modules that fill it.

aanets.py and podnet.py register our library's methods, baselines.py Avalanche's built-ins (with the
version-guarded patches of patches.py); common.py holds what they share.
"""

from . import aanets, baselines, podnet  # noqa: F401  (each registers its methods)
from .common import FeatureClassifier, make_backbone
from .registry import (
    DEFAULT_METHODS,
    METHODS,
    Factory,
    MethodInfo,
    get_method,
    list_methods,
    memory_plan,
    parse_methods,
    register,
)

__all__ = [
    "DEFAULT_METHODS", "METHODS", "Factory", "FeatureClassifier", "MethodInfo", "get_method",
    "list_methods", "make_backbone", "memory_plan", "parse_methods", "register",
]
