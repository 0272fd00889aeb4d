"""torch.compile for a strategy's forward pass, kept out of the strategy's own state.

The compiled wrapper lives in a weak-keyed table beside the model rather than on the strategy,
so checkpoints (which pickle the strategy) never meet it. Where compilation is unsupported (no
C++ compiler, an unsupported Python or platform) the first call falls back to the eager model
with one warning and the strategy stops asking.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any, Callable

import torch
from torch import nn

_COMPILED: "weakref.WeakKeyDictionary[nn.Module, Callable[..., Any]]" = weakref.WeakKeyDictionary()


def compiled_forward(strategy) -> Any:
    """``strategy.model(strategy.mb_x)`` through torch.compile; recompiles when the model's
    structure changes (new classes, the aggregated network), as torch.compile's guards decide."""
    model = strategy.model
    compiled = _COMPILED.get(model)
    if compiled is None:
        compiled = _COMPILED[model] = torch.compile(model)
    try:
        return compiled(strategy.mb_x)
    except Exception as exc:  # inductor/dynamo failures surface here, at the first call
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        warnings.warn(f"torch.compile is not usable here ({reason[:160]}); running the model eagerly",
                      RuntimeWarning, stacklevel=2)
        strategy.compile_model = False
        return model(strategy.mb_x)


__all__ = ["compiled_forward"]
