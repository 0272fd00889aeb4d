"""Methods by name: the registry (registry.py) and the modules that fill it.

aanets.py and podnet.py register our library's methods, baselines.py the baselines: Avalanche's
built-ins, or Avalanche's Naive with one plugin where Avalanche's version differs from the
method's authors (der.py: DER / DER++, bic.py: BiC, lwf.py + new_classes.py: PyCIL's LwF,
ewc.py: PyCIL's EWC); common.py holds what they share. docs/baselines.md describes each baseline and its reference.
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
