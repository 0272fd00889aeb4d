"""Version-guarded fixes of Avalanche so its strategies run on the torch we use.

Each patch names the Avalanche versions it was checked against and changes nothing of the
algorithm; on any other version it does nothing (a newer Avalanche may have fixed the bug).
"""

from __future__ import annotations

import inspect
from importlib import metadata
from typing import Any

CHECKED_AVALANCHE_VERSIONS = ("0.6.0",)


def avalanche_version() -> str:
    try:
        return metadata.version("avalanche-lib")
    except metadata.PackageNotFoundError:
        return "unknown"


def patch_bic_scheduler() -> None:
    """Avalanche 0.6.0's BiC passes ``verbose=`` to MultiStepLR, which torch >= 2.7 rejects.

    Swap the name inside avalanche's bic module for a subclass that drops that argument; the
    algorithm is untouched. Idempotent.
    """
    import torch
    from avalanche.training.plugins import bic as bic_module

    if avalanche_version() not in CHECKED_AVALANCHE_VERSIONS:
        return
    if getattr(bic_module.MultiStepLR, "_drops_verbose", False):
        return
    if "verbose" in inspect.signature(torch.optim.lr_scheduler.MultiStepLR).parameters:
        return  # this torch still accepts the argument: nothing to fix

    class MultiStepLRNoVerbose(torch.optim.lr_scheduler.MultiStepLR):
        _drops_verbose = True

        def __init__(self, *args, verbose: Any = None, **kwargs):
            super().__init__(*args, **kwargs)

    bic_module.MultiStepLR = MultiStepLRNoVerbose
