"""What a user asks of ``compare``, as one frozen object built once (by the CLI or in Python).

``CompareRequest`` holds every choice of the command line, parsed and checked for form (names,
lists, ranges) without reading a preset or any data: planning (planner.py) turns it into the
plan, and nothing after planning reads a command-line value again.

    request = CompareRequest(benchmark="split-digits", phases=5, methods="lucir,replay",
                             seeds="1993,1994", preset="smoke", out="runs/demo")
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import UserError
from .protocols import parse_int_list, parse_phases

MAX_SEED = 2**32 - 1
MAX_COUNT = 2**31 - 1  # epochs, workers, parallel runs, retries: the settings' integer limit
DEVICES = ("auto", "cpu", "cuda")
EXECUTORS = ("local", "ray")
LOG_KINDS = ("tensorboard", "csv", "wandb")
_LOG_NEEDS_PACKAGE = {"tensorboard": "tensorboard", "wandb": "wandb"}


AMP_CHOICES = ("auto", "on", "off")


@dataclass(frozen=True)
class SpeedOptions:
    """The command line's speed switches; ``num_workers=None`` = chosen from the CPU count.

    ``amp``: bf16 autocast, "on", "off" or "auto" (bf16 on CUDA and on CPUs with native bf16
    units, fp32 elsewhere; True/False mean "on"/"off"). ``deterministic``: cuDNN's deterministic
    algorithms on CUDA (None: on; the CPU is deterministic either way)."""

    amp: str | bool = "off"
    num_workers: int | None = None
    compile: bool = False
    channels_last: bool | None = None  # None: on for the CPU, off for CUDA
    deterministic: bool | None = None
    threads: int | None = None  # CPU threads of a local compare; None: measured (run/threads.py)

    def __post_init__(self) -> None:
        if isinstance(self.amp, bool):
            object.__setattr__(self, "amp", "on" if self.amp else "off")
        if self.amp not in AMP_CHOICES:
            raise UserError(f"--amp must be one of {', '.join(AMP_CHOICES)} (got {self.amp!r})")
        if self.num_workers is not None:
            _check_count("--num-workers", self.num_workers, low=0)
        if self.threads is not None:
            _check_count("--threads", self.threads, low=1)


@dataclass(frozen=True)
class ExecutorChoice:
    """Which executor runs the cells, and the Ray options (only with ``name="ray"``)."""

    name: str = "local"
    ray_address: str | None = None     # None: start a local instance; "auto": join a running one
    gpus_per_run: float | None = None  # None: 1 when the cluster has GPUs, else 0
    max_parallel: int | None = None    # None: as many as the cluster's resources allow
    retries: int | None = None         # None: 2

    def __post_init__(self) -> None:
        if self.name not in EXECUTORS:
            raise UserError(f"unknown executor {self.name!r}; use one of: {', '.join(EXECUTORS)}")
        if self.name == "local":
            ray_only = {"--ray-address": self.ray_address, "--gpus-per-run": self.gpus_per_run,
                        "--max-parallel": self.max_parallel, "--retries": self.retries}
            given = [flag for flag, value in ray_only.items() if value is not None]
            if given:
                raise UserError(f"{', '.join(given)}: only with --executor ray")
        if self.gpus_per_run is not None:
            gpus = self.gpus_per_run
            if (isinstance(gpus, bool) or not isinstance(gpus, (int, float))
                    or not math.isfinite(gpus) or gpus < 0):
                raise UserError(f"--gpus-per-run must be a finite number >= 0 (got {gpus!r})")
        if self.max_parallel is not None:
            _check_count("--max-parallel", self.max_parallel, low=1)
        if self.retries is not None:
            _check_count("--retries", self.retries, low=0)


def _check_count(flag: str, value: object, *, low: int) -> None:
    """An integer option in low..MAX_COUNT, else one UserError line."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{flag} must be an integer in {low}..{MAX_COUNT} (got {value!r})")
    if value < low:
        raise UserError(f"{flag} must be {'0 or more' if low == 0 else f'at least {low}'} "
                        f"(got {value})")
    if value > MAX_COUNT:
        raise UserError(f"{flag} must be at most {MAX_COUNT} (got {value})")


def parse_seeds(text: str | int | Sequence[int] | None) -> tuple[int, ...]:
    """'1993,1,2' -> (1993, 1, 2); UserError on anything else."""
    if text is None:
        return (1993,)
    return parse_int_list(text, low=0, high=MAX_SEED,
                          bad=f"bad seed list {text!r}: give comma-separated integers in "
                              f"0..{MAX_SEED}, e.g. 1993,1994",
                          repeated=f"bad seed list {text!r}: a seed is repeated")


def parse_log_kinds(kinds: Sequence[str] | None) -> tuple[str, ...]:
    """Validated, de-duplicated logger names (UserError on an unknown one or a missing package)."""
    chosen = tuple(dict.fromkeys(k.strip().lower() for k in (kinds or ()) if k.strip()))
    for kind in chosen:
        if kind not in LOG_KINDS:
            raise UserError(f"unknown --log {kind!r}; choose from {', '.join(LOG_KINDS)}")
        package = _LOG_NEEDS_PACKAGE.get(kind)
        if package and importlib.util.find_spec(package) is None:
            raise UserError(f"--log {kind} needs the {package} package: pip install {package}")
    return chosen


def auto_preset(device: str) -> str:
    """What ``--preset auto`` means: the paper's settings where the run's device is CUDA (a
    researcher's GPU), the reduced cpu preset otherwise."""
    if device == "cuda":
        return "paper"
    if device == "cpu":
        return "cpu"
    import torch
    return "paper" if torch.cuda.is_available() else "cpu"


def _method_text(methods: str | Sequence[str] | None) -> str | None:
    return ",".join(methods) if isinstance(methods, (list, tuple)) else methods


@dataclass(frozen=True)
class CompareRequest:
    """Every choice of one ``compare`` command. Text values are parsed on construction (so the
    fields hold tuples and paths); an ill-formed value is one UserError line."""

    benchmark: str
    phases: tuple[int, ...] | str | int = (5,)
    methods: tuple[str, ...] | str | None = None     # None: the default method set
    seeds: tuple[int, ...] | str | int | None = None  # None: (1993,)
    preset: str = "auto"  # "auto": paper on a CUDA device, cpu otherwise
    epochs: int | None = None
    sets: tuple[str, ...] = ()                       # --set dotted.key=value items
    base_classes: int | None = None
    class_order_seed: int = 1993
    data_root: str | None = None
    skip_bad_images: bool = False
    device: str = "auto"
    speed: SpeedOptions = field(default_factory=SpeedOptions)
    executor: ExecutorChoice = field(default_factory=ExecutorChoice)
    log: tuple[str, ...] = ()
    out: Path | str | None = None
    quiet: bool = False
    dry_run: bool = False
    # --grid key=v1,v2 items, parsed to ((key, (v1, v2)), ...): the product is trained (grid.py)
    grid: tuple[tuple[str, tuple[str, ...]], ...] | tuple[str, ...] = ()
    versus: str | None = None  # --versus METHOD[@variant]: paired differences in the tables
    preset_was_auto: bool = field(default=False, init=False)  # say which preset auto chose

    def __post_init__(self) -> None:
        from ..methods import parse_methods
        from .grid import parse_grid

        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "phases", parse_phases(self.phases))
        set_(self, "methods", parse_methods(_method_text(self.methods)))
        set_(self, "seeds", parse_seeds(self.seeds))
        set_(self, "sets", tuple(self.sets))
        set_(self, "log", parse_log_kinds(self.log))
        set_(self, "out", Path(self.out) if self.out is not None else None)
        if self.preset == "auto":
            set_(self, "preset", auto_preset(self.device))
            set_(self, "preset_was_auto", True)
        if self.epochs is not None:
            _check_count("--epochs", self.epochs, low=1)
        if self.device not in DEVICES:
            raise UserError(f"unknown device {self.device!r}; use auto, cpu or cuda")
        set_(self, "grid", parse_grid(self.grid))
        if self.versus is not None:
            versus = str(self.versus).strip()
            if versus.partition("@")[0] not in self.methods:
                raise UserError(f"--versus {versus}: not among the methods compared "
                                f"({', '.join(self.methods)})")
            set_(self, "versus", versus)


__all__ = ["AMP_CHOICES", "CompareRequest", "auto_preset", "DEVICES", "EXECUTORS", "ExecutorChoice", "LOG_KINDS", "MAX_COUNT",
           "MAX_SEED", "SpeedOptions", "parse_log_kinds", "parse_seeds"]
