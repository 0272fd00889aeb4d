"""The one way to run a cell of a plan (plan/cells.py), whatever the executor.

Running a cell is ``runner.run_one``; this module only adds what every executor needs around
it: the stream, built once per process (a remote worker builds it itself), and Avalanche's
per-phase deprecation warnings kept quiet.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from ...plan.cells import Cell

if TYPE_CHECKING:  # runtime imports stay lazy: avalanche takes seconds to import
    from ...streams import BuiltBenchmark, StreamSpec


_streams: dict[Any, BuiltBenchmark] = {}


def remember_stream(spec: StreamSpec, bench: BuiltBenchmark) -> None:
    """Make an already built stream the one this process uses for ``spec``."""
    _streams[spec] = bench


def stream_for(spec: StreamSpec) -> BuiltBenchmark:
    """The stream of ``spec``, built on first use in this process (a worker runs many cells)."""
    if spec not in _streams:
        from ...streams import build_stream
        _streams[spec] = build_stream(spec)
    return _streams[spec]


@contextmanager
def avalanche_warnings_hidden() -> Iterator[None]:
    """Avalanche 0.6 warns about its own deprecations on every phase (and forces those warnings
    on with its own filters): drop what comes from avalanche's files, show the rest."""
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if f"{os.sep}avalanche{os.sep}" not in filename:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def run_cell(cell: Cell, out_dir: Path, *, command: str, progress: bool | str,
             notify: Callable[[str], None], after_phase: Callable[[Any, int], None] | None,
             echo: Callable[[str], None] = print, log: Sequence[str] = (),
             write_record: bool = True) -> dict[str, Any]:
    """Train one cell with ``runner.run_one`` (resuming from its checkpoint); return the record."""
    from .. import runner  # looked up at call time, so tests can wrap run_one

    with avalanche_warnings_hidden():
        return runner.run_one(cell.run, stream_for(cell.stream), out_dir, command=command,
                              progress=progress, notify=notify, after_phase=after_phase,
                              echo=echo, log=log, write_record=write_record)
