"""Executors: how ``compare`` runs the cells of its grid.

``local`` (the default) trains the cells one after another in this process; ``ray`` makes
every cell one Ray task (one machine with several GPUs, or a cluster) and streams the records
back to this process, which writes them. Both run a cell the same way (``cell.run_cell`` ->
``runner.run_one``); an executor only decides where and when.

The protocol ``compare`` relies on:
    device = executor.start(requested_device)   # validate / connect; UserError if impossible
    outcome = executor.run(cells, job)          # train; records are on disk afterwards
Whoever made the executor calls ``executor.close()`` when done with it (it stops a local Ray
instance the executor started), so several comparisons can share one instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from ...errors import UserError
from ...plan.cells import Cell
from ...plan.request import EXECUTORS, ExecutorChoice
from .cell import run_cell, stream_for

RAY_INSTALL_HINT = 'pip install -e ".[harness,ray]"  (or: pip install ray)'


@dataclass
class Job:
    """What every cell of one compare shares."""

    out_dir: Path
    command: str
    progress: str = "bars"                  # "bars", "lines" or "off" (benchmarks/run/progress.py)
    echo: Callable[[str], None] = print     # progress lines
    say: Callable[[str], None] = print      # summary lines (silent with --quiet)
    warn: Callable[[str], None] = print
    after_phase: Callable[[Any, int], None] | None = None  # tests: simulate interruptions
    log: Sequence[str] = ()                 # Avalanche loggers by name (run_logging.py)


@dataclass
class Outcome:
    trained: list[tuple[str, int]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one line per failed cell: method/seed: error


class Executor(Protocol):
    name: str  # "local" or "ray"

    def start(self, device: str) -> str: ...

    def cell_threads(self) -> int: ...  # the CPU threads a cell trains with (resume checks)

    def run(self, cells: Sequence[Cell], job: Job) -> Outcome: ...

    def close(self) -> None: ...


def make_executor(name: str = "local", *, ray_address: str | None = None,
                  gpus_per_run: float | None = None, max_parallel: int | None = None,
                  retries: int | None = None,
                  on_event: Callable[[Any], None] | None = None) -> Executor:
    """The executor called ``name`` with its options checked (nothing is started yet)."""
    ray_only = {"--ray-address": ray_address, "--gpus-per-run": gpus_per_run,
                "--max-parallel": max_parallel, "--retries": retries}
    if name == "local":
        given = [flag for flag, value in ray_only.items() if value is not None]
        if given:
            raise UserError(f"{', '.join(given)}: only with --executor ray")
        from .local import LocalExecutor
        return LocalExecutor()
    if name == "ray":
        import importlib.util
        if importlib.util.find_spec("ray") is None:
            raise UserError(f"--executor ray needs the ray package; install it with: {RAY_INSTALL_HINT}")
        from .ray import RayExecutor, RayOptions
        return RayExecutor(RayOptions(address=ray_address, gpus_per_run=gpus_per_run,
                                      max_parallel=max_parallel,
                                      retries=2 if retries is None else retries),
                           on_event=on_event)
    raise UserError(f"unknown executor {name!r}; use one of: {', '.join(EXECUTORS)}")


def executor_for(choice: ExecutorChoice) -> Executor:
    """The executor a request chose (nothing is started yet)."""
    return make_executor(choice.name, ray_address=choice.ray_address,
                         gpus_per_run=choice.gpus_per_run, max_parallel=choice.max_parallel,
                         retries=choice.retries)


__all__ = ["Cell", "EXECUTORS", "Executor", "Job", "Outcome", "executor_for", "make_executor",
           "run_cell", "stream_for"]
