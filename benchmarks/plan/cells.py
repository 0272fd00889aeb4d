"""The cells of a plan: what one run trains and everything that determines its numbers.

A ``RunSpec`` identifies a run (its settings hash to the run key that finished records and
checkpoints are matched by); a ``Cell`` adds the ``StreamSpec`` of the stream it trains on, so a
remote worker can build the stream itself. Planning makes them; executors run them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..methods import get_method
from ..store.records import SCHEMA_VERSION, run_name
from ..streams import StreamSpec
from .config import RunConfig
from .request import SpeedOptions


@dataclass(frozen=True)
class RunSpec:
    """Everything that identifies a run and determines its numbers."""

    benchmark: str
    phases: int
    method: str
    seed: int
    config: RunConfig
    device: str = "cpu"
    base_classes: int | None = None     # None = the stream's default (half the classes)
    class_order_seed: int = 1993
    speed: SpeedOptions = SpeedOptions()  # --amp / --num-workers / --compile
    # what of the input path and the speed switches can change the numbers (runtime.key_part)
    execution: tuple[tuple[str, Any], ...] = ()
    # the --grid settings of this cell that reach its method ((dotted key, typed value), ...;
    # already applied to ``config``): they name its folders, runs/<method>@<key>=<value>/
    variant: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        """The run's name in the output folder: the method, or <method>@<variant> (run_name)."""
        return run_name(self.method, self.variant)

    def settings(self) -> dict[str, Any]:
        """Everything that determines the run's numbers, as plain data: what the run key
        hashes, stored in records and checkpoints to name what differs. Only the settings that
        reach this method count (see RunConfig.key_settings)."""
        info = get_method(self.method)
        config = self.config.key_settings(method=self.method, family=info.family,
                                          uses_memory=info.memory != "none")
        settings = {"benchmark": self.benchmark, "phases": self.phases, "method": self.method,
                    "seed": self.seed, "device": self.device, "base_classes": self.base_classes,
                    "class_order_seed": self.class_order_seed, "config": config,
                    "schema": SCHEMA_VERSION}
        if self.execution:  # the input path and the speed switches that can change numbers
            settings["execution"] = dict(self.execution)
        if self.variant:  # a grid variant (a run without one keeps the keys it always had)
            settings["variant"] = {k: list(v) if isinstance(v, tuple) else v
                                   for k, v in self.variant}
        return settings

    def key(self) -> str:
        """Hash of the settings: a run file or checkpoint is reused only if its key matches."""
        text = json.dumps(self.settings(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Cell:
    """One (benchmark, protocol, method, --grid variant, seed) run of a plan."""

    run: RunSpec
    stream: StreamSpec

    @property
    def label(self) -> str:
        """How progress lines and failure reports name the cell."""
        phases = f"{self.run.phases} phase{'' if self.run.phases == 1 else 's'}"
        return f"{self.run.name} seed {self.run.seed} ({self.run.benchmark}, {phases})"




__all__ = ["Cell", "RunSpec"]
