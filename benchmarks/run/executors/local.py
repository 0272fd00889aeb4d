"""The in-process executor: cells one after another in this process, with progress bars.

A run whose loss stops being finite (RunDiverged) is reported and the others go on; any other
exception in a cell stops the comparison (its checkpoint stays; the same command resumes).
"""

from __future__ import annotations

from typing import Sequence

from ...errors import RunDiverged
from . import Job, Outcome
from ...plan.cells import Cell
from .cell import run_cell


class LocalExecutor:
    name = "local"

    def start(self, device: str) -> str:
        from ..runner import resolve_device
        return resolve_device(device)

    def cell_threads(self) -> int:
        from ..cpu import cpu_threads
        return cpu_threads()

    def run(self, cells: Sequence[Cell], job: Job) -> Outcome:
        outcome = Outcome()
        runs_bar = None
        if job.progress == "bars" and cells:
            from tqdm.auto import tqdm
            runs_bar = tqdm(total=len(cells), desc="runs", position=0, dynamic_ncols=True)
        try:
            for number, cell in enumerate(cells, start=1):
                if runs_bar is not None:
                    runs_bar.set_postfix_str(f"{cell.run.name} seed {cell.run.seed}")
                elif job.progress == "lines":
                    job.echo(f"run {number}/{len(cells)}: {cell.run.name} seed {cell.run.seed}")
                try:
                    run_cell(cell, job.out_dir, command=job.command, progress=job.progress,
                             notify=job.warn, after_phase=job.after_phase, echo=job.echo,
                             log=job.log)
                except RunDiverged as exc:
                    outcome.failed.append(str(exc))
                    job.warn(f"warning: {exc}")
                else:
                    outcome.trained.append((cell.run.name, cell.run.seed))
                if runs_bar is not None:
                    runs_bar.update(1)
        finally:
            if runs_bar is not None:
                runs_bar.close()
        return outcome

    def close(self) -> None:
        pass
