"""How many CPU threads a local compare trains with: measured, unless the user or a checkpoint
decides.

A tiny network on tiny images (the 8x8 digits of the quick start) gains nothing from a second
thread, and on a machine shared with another training OpenMP threads that wait for busy cores
can make a run ten times slower. So ``--threads auto`` (the default) times a few SGD steps of
the protocol's backbone at its batch and input size with one thread and with all of them, here
and now, and keeps the faster. A run that resumes keeps the count its checkpoint was written
with (its numbers depend on it), and ``--threads N`` decides outright. The choice is said in one
line and every record stores ``cpu_threads``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

ALL_THREADS = torch.get_num_threads()  # what this process had before any choice (torch's default)


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    why: str


def recorded_threads(out_dir: Path, runs: Iterable[tuple[str, int]]) -> set[int]:
    """The thread counts the unfinished runs' checkpoints in ``out_dir`` were written with."""
    from ..store.checkpoint import CheckpointError, checkpoint_path, read_checkpoint_meta

    found = set()
    for method, seed in runs:
        path = checkpoint_path(out_dir, method, seed)
        if not path.is_file():
            continue
        try:
            count = read_checkpoint_meta(path).get("cpu_threads")
        except (CheckpointError, OSError):
            continue  # the folder scan reports it
        if isinstance(count, int) and count > 0:
            found.add(count)
    return found


def choose_threads(asked: int | None, *, out_dir: Path, runs: Iterable[tuple[str, int]],
                   backbone: str, channels: int, side: int, batch: int) -> ThreadChoice:
    """The CPU thread count for a local compare (see the module docstring)."""
    if asked is not None:
        return ThreadChoice(asked, f"--threads {asked}")
    recorded = recorded_threads(out_dir, runs)
    if len(recorded) == 1:
        count = recorded.pop()
        return ThreadChoice(count, "the count the unfinished runs' checkpoints were written with")
    most = max(1, ALL_THREADS or os.cpu_count() or 1)
    if most == 1:
        return ThreadChoice(1, "one core")
    return _measured(most, backbone, channels, side, batch)


@functools.lru_cache(maxsize=None)
def _measured(most: int, backbone: str, channels: int, side: int, batch: int) -> ThreadChoice:
    """The faster of 1 and ``most`` threads for this network and input, timed once per process
    (the protocols of one ``--phases 5,10,25`` compare share it)."""
    from ..plan.estimate import measure_rate

    rates = {}
    for count in (1, most):
        torch.set_num_threads(count)
        rates[count] = measure_rate(backbone, channels, side, batch, "cpu", steps=2).images_per_s
    best = max(rates, key=rates.get)
    shown = ", ".join(f"{n} thread{'s' if n > 1 else ''} {r:,.0f} images/s" for n, r in rates.items())
    return ThreadChoice(best, f"measured here just now: {shown}")


def apply_threads(choice: ThreadChoice) -> None:
    torch.set_num_threads(choice.threads)


__all__ = ["ALL_THREADS", "ThreadChoice", "apply_threads", "choose_threads", "recorded_threads"]
