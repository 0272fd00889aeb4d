"""Argument checks for the library's constructors.

A bad hyper-parameter must fail where it is given, naming the argument, not phases later as a
NaN weight or an empty memory: ``lambda_base=float("nan")`` would otherwise silently turn every
weight into NaN.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence


def check_real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float; ValueError naming ``name`` unless it is a finite real in range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range (10**400): not finite either
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (number < low or (low_open and number == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low:g}, got {value!r}")
    if high is not None and (number > high or (high_open and number == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high:g}, got {value!r}")
    return number


def check_int(name: str, value: Any, *, low: int | None = None) -> int:
    """``value`` as an int; ValueError naming ``name`` unless it is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return int(value)


def check_optional_real(name: str, value: Any, **bounds: Any) -> float | None:
    return None if value is None else check_real(name, value, **bounds)


def check_milestones(name: str, value: Sequence[Any]) -> list[int]:
    """Epoch milestones: positive integers in increasing order (MultiStepLR's contract)."""
    try:
        items = list(value)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of epochs, got {value!r}") from None
    out = [check_int(f"{name}[{i}]", m, low=1) for i, m in enumerate(items)]
    if any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"{name} must be strictly increasing, got {items!r}")
    return out


def memory_budget(memory_per_class: Any, memory_total: Any,
                  default_per_class: int = 20) -> tuple[int | None, int | None]:
    """(per_class, total) with exactly one set: ``memory_total`` alone is a fixed total, neither
    means ``default_per_class`` exemplars per class, both is an error."""
    if memory_per_class is not None and memory_total is not None:
        raise ValueError("give exactly one of memory_per_class or memory_total, not both")
    name, value = (("memory_total", memory_total) if memory_total is not None else
                   ("memory_per_class", default_per_class if memory_per_class is None
                    else memory_per_class))
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return (None, int(value)) if name == "memory_total" else (int(value), None)


__all__ = ["check_int", "check_milestones", "check_optional_real", "check_real", "memory_budget"]
