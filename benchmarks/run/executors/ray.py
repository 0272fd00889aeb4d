"""The Ray executor: every cell of the grid is one Ray task.

The same command runs on a laptop (a local Ray instance is started), on one machine with
several GPUs, and on a cluster (``--ray-address auto`` joins a running one). What happens where:

* A task trains its cell with ``run_cell`` (``runner.run_one``), writes the cell's per-phase
  checkpoints under the output folder *on the node it runs on*, and returns the record.
* The driver (this process) writes the records, the tables and the plot as results stream
  back, so results need no shared filesystem; it shows cells done / running / failed.
* A task whose worker dies (killed process, lost node, out of memory) is retried by Ray up to
  ``retries`` times and resumes from its last checkpoint if it can see it: always on the same
  node; on another node only when the output folder is on storage shared by the nodes
  (otherwise it restarts from phase 0 and gives the same numbers, later).
* A task that raises (a Python exception, a user error) is not retried: it is reported in one
  line with its method and seed, and the other cells go on.
* Methods that share a base phase (base_phase.py: LUCIR and AANets-LUCIR, ...) do so here too:
  of each group and seed, the first cell starts and the others wait until it has trained and
  kept phase 0, then adopt it (one phase 0 instead of one per method, the largest phase of a
  paper run). The others find it when they run on the node that kept it, or when the output
  folder is shared by the nodes; otherwise they train their own (same numbers, later).

Requests the cluster cannot meet (``--gpus-per-run 1`` without GPUs) are refused at start with a
one-line error, never left waiting.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import ray

from ..base_phase import base_phase_holds
from ...errors import RunDiverged, UserError
from ...store.records import save_divergence, store_record
from . import Job, Outcome
from ...plan.cells import Cell
from .cell import run_cell

POLL_S = 0.5  # how often the driver looks at finished tasks and progress events
CPUS_PER_CELL = 1  # Ray's count and the cell's torch threads (CPU numbers depend on the latter)


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None        # None: start a local instance; "auto": join a running one
    gpus_per_run: float | None = None  # None: 1 when the cluster has GPUs, else 0
    max_parallel: int | None = None    # None: as many as the cluster's resources allow
    retries: int = 2                   # retries of a cell whose worker died

    def check(self) -> None:
        """UserError for values Ray would reject or misread."""
        g = self.gpus_per_run
        if g is not None and (g < 0 or (g > 1 and g != int(g))):
            raise UserError(f"--gpus-per-run must be 0, a fraction below 1 or a whole number "
                            f"(got {g:g})")
        if self.max_parallel is not None and self.max_parallel < 1:
            raise UserError(f"--max-parallel must be at least 1 (got {self.max_parallel})")
        if self.retries < 0:
            raise UserError(f"--retries must be 0 or more (got {self.retries})")


@dataclass(frozen=True)
class CellEvent:
    """What a task tells the driver while it runs (``kind``: started, phase, warning)."""

    index: int             # position of the cell in the list handed to ``run``
    method: str
    seed: int
    kind: str
    pid: int               # the worker process running the cell
    node: str              # its node's IP address
    phase: int | None = None
    message: str = ""


# --------------------------------------------------------------------------- worker side


class _Progress:
    """Mailbox actor: tasks post events, the driver collects them (actor calls from one
    caller run in order, so a cell's events arrive in the order they happened)."""

    def __init__(self) -> None:
        self.events: list[CellEvent] = []

    def post(self, event: CellEvent) -> None:
        self.events.append(event)

    def drain(self) -> list[CellEvent]:
        events, self.events = self.events, []
        return events


def _train_cell(index: int, cell: Cell, out_dir: Path, command: str, progress: Any,
                after_phase: Callable[[Any, int], None] | None,
                log: Sequence[str]) -> dict[str, Any]:
    """Body of the Ray task: run the cell, report its progress, return the record unwritten."""
    import torch

    # whatever OMP_NUM_THREADS the worker inherited: every attempt of a cell, here or on
    # another node, computes with the same thread count, so a resumed cell gives the same numbers
    torch.set_num_threads(CPUS_PER_CELL)
    pid, node = os.getpid(), ray.util.get_node_ip_address()

    def post(kind: str, **fields: Any) -> None:
        progress.post.remote(CellEvent(index=index, method=cell.run.name, seed=cell.run.seed,
                                       kind=kind, pid=pid, node=node, **fields))

    def phase_done(spec: Any, phase: int) -> None:
        post("phase", phase=phase)
        if after_phase is not None:
            after_phase(spec, phase)

    post("started")
    return run_cell(cell, out_dir, command=command, progress="off",
                    notify=lambda message: post("warning", message=message),
                    after_phase=phase_done, log=log, write_record=False)


# --------------------------------------------------------------------------- driver side


class RayExecutor:
    name = "ray"

    def __init__(self, options: RayOptions, on_event: Callable[[CellEvent], None] | None = None):
        options.check()
        self.options = options
        self.on_event = on_event      # every event, after the driver's own handling (tests)
        self._gpus = 0.0
        self._started_here = False

    # ---- start: connect and check that the cluster can run a cell

    def start(self, device: str) -> str:
        self._connect()
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        node_gpus = [float(n["Resources"].get("GPU", 0)) for n in nodes]
        node_cpus = [float(n["Resources"].get("CPU", 0)) for n in nodes]
        address = self.options.address
        where = "the local Ray instance" if address is None else f"the Ray cluster at {address!r}"
        if not any(c >= 1 for c in node_cpus):
            raise UserError(f"no node of {where} has a free CPU slot for a cell")
        gpus = self.options.gpus_per_run
        if device == "cpu":
            if gpus:
                raise UserError(f"--gpus-per-run {gpus:g} with --device cpu: the cells would hold "
                                "GPUs they do not use; drop one of the two")
            gpus = 0.0
        elif device == "cuda" and gpus == 0:
            raise UserError("--device cuda with --gpus-per-run 0: give each cell a GPU "
                            "(--gpus-per-run 1, or a fraction such as 0.5 to share one)")
        if gpus is None:
            gpus = 1.0 if max(node_gpus, default=0) >= 1 else 0.0
            if device == "cuda" and gpus == 0:
                raise UserError(f"--device cuda, but {where} has no GPU "
                                f"(GPUs per node: {_counts(node_gpus)})")
        if gpus > max(node_gpus, default=0):
            raise UserError(f"--gpus-per-run {gpus:g}: no node of {where} has {gpus:g} GPU(s) "
                            f"(GPUs per node: {_counts(node_gpus)}); use --gpus-per-run 0 to "
                            "train on CPUs")
        self._gpus = float(gpus)
        return "cuda" if self._gpus > 0 else "cpu"

    def cell_threads(self) -> int:
        return CPUS_PER_CELL

    def _connect(self) -> None:
        if ray.is_initialized():  # a caller (a test, a notebook) already chose the instance
            return
        address = self.options.address
        try:
            if address is None:
                ray.init(include_dashboard=False, logging_level=logging.WARNING)
            else:
                ray.init(address=address, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            target = "start a local Ray instance" if address is None else \
                f"connect to the Ray cluster at {address!r}"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"cannot {target}: {first}") from None
        self._started_here = True

    # ---- run: submit, stream results back, write records

    def run(self, cells: Sequence[Cell], job: Job) -> Outcome:
        outcome = Outcome()
        if not cells:
            return outcome
        out_dir = Path(job.out_dir).resolve()   # tasks may run in another working directory
        shipped = [_portable(cell) for cell in cells]
        progress = ray.remote(_Progress).options(num_cpus=0).remote()
        task = ray.remote(_train_cell).options(
            num_cpus=CPUS_PER_CELL, num_gpus=self._gpus, max_retries=self.options.retries,
            retry_exceptions=False)
        board = _Board(cells, job, self.options.retries)
        held = base_phase_holds([cell.run for cell in cells], out_dir)  # follower -> leader
        for follower, leader in held.items():
            board.say(f"{cells[follower].label}: waits for {cells[leader].run.name} to train "
                      "their shared base phase (phase 0)")
        waiting = [index for index in range(len(cells)) if index not in held]
        in_flight: dict[Any, int] = {}
        limit = self.options.max_parallel or len(cells)
        try:
            while waiting or in_flight or held:
                if not waiting and not in_flight:  # cannot happen; never wait for nothing
                    waiting, held = sorted(held), {}
                while waiting and len(in_flight) < limit:
                    index = waiting.pop(0)
                    ref = task.remote(index, shipped[index], out_dir, job.command, progress,
                                      job.after_phase, tuple(job.log))
                    in_flight[ref] = index
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=POLL_S)
                events = ray.get(progress.drain.remote())
                self._deliver(events, board)
                past_phase0 = {e.index for e in events if e.kind == "phase"}
                for ref in ready:
                    index = in_flight.pop(ref)
                    self._collect(ref, index, out_dir, board, outcome)
                    past_phase0.add(index)  # finished or failed: waiting longer gains nothing
                released = sorted(f for f, leader in held.items() if leader in past_phase0)
                for follower in released:
                    del held[follower]
                waiting += released
            self._deliver(ray.get(progress.drain.remote()), board)
        except BaseException:
            for ref in in_flight:  # Ctrl-C or a driver error: stop the cells, keep checkpoints
                with contextlib.suppress(Exception):  # Ray itself may be what failed
                    ray.cancel(ref, force=True)
            raise
        finally:
            ray.kill(progress)
        return outcome

    def _collect(self, ref: Any, index: int, out_dir: Path, board: _Board,
                 outcome: Outcome) -> None:
        """Write the record of a finished task, or report why it failed."""
        try:
            record = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the cell raised: not retried
            cause = exc.cause if exc.cause is not None else exc
            reason = f"{type(cause).__name__}: {_first_line(cause)}"
            if isinstance(cause, RunDiverged):
                run = board.cells[index].run
                save_divergence(out_dir, run.name, run.seed, run.key(), str(cause))
        except ray.exceptions.RayError as exc:  # worker or node lost more often than retried
            reason = (f"{type(exc).__name__} after {self.options.retries} retries: "
                      f"{_first_line(exc)}")
        else:
            run = board.cells[index].run
            store_record(out_dir, record)
            outcome.trained.append((run.name, run.seed))
            board.finished(index, record)
            return
        outcome.failed.append(f"{board.cells[index].label}: {reason}")
        board.failed(index, reason)

    def _deliver(self, events: list[CellEvent], board: _Board) -> None:
        for event in events:
            board.event(event)
            if self.on_event is not None:
                self.on_event(event)

    def close(self) -> None:
        if self._started_here and ray.is_initialized():
            ray.shutdown()
        self._started_here = False


class _Board:
    """Progress of the grid as the driver sees it: one line per change, failures always."""

    def __init__(self, cells: Sequence[Cell], job: Job, retries: int):
        self.cells, self.job, self.retries = cells, job, retries
        self.starts: dict[int, int] = {}
        self.running: set[int] = set()
        self.over: set[int] = set()  # finished or failed (a late 'started' must not count)
        self.done = self.failures = 0
        self.say = job.say

    def _status(self) -> str:
        waiting = len(self.cells) - self.done - self.failures - len(self.running)
        return (f"[{self.done}/{len(self.cells)} done, {len(self.running)} running, "
                f"{self.failures} failed, {waiting} waiting]")

    def event(self, event: CellEvent) -> None:
        cell = self.cells[event.index]
        if event.kind == "started" and event.index not in self.over:
            self.running.add(event.index)
            attempt = self.starts[event.index] = self.starts.get(event.index, 0) + 1
            what = "started" if attempt == 1 else \
                f"retry {attempt - 1} of {self.retries} (worker lost), resuming from its checkpoint"
            self.say(f"{self._status()} {cell.label}: {what} on {event.node} (pid {event.pid})")
        elif event.kind == "warning":
            self.job.warn(f"{cell.label}: {event.message}")

    def finished(self, index: int, record: dict[str, Any]) -> None:
        self.running.discard(index)
        self.over.add(index)
        self.done += 1
        resumed = record.get("resumed_at_phase") or []
        note = f", resumed at phase {resumed[-1]}" if resumed else ""
        self.say(f"{self._status()} {self.cells[index].label}: finished in "
                 f"{record['wall_time_s']:.1f} s{note}")

    def failed(self, index: int, reason: str) -> None:
        self.running.discard(index)
        self.over.add(index)
        self.failures += 1
        self.job.warn(f"{self._status()} FAILED {self.cells[index].label}: {reason}")


def _portable(cell: Cell) -> Cell:
    """The cell as a task on another node or working directory must see it: the data folder
    as an absolute path (the same path must hold the data on every node)."""
    from ...streams import resolve_data_root
    return replace(cell, stream=replace(cell.stream,
                                        data_root=str(resolve_data_root(cell.stream).resolve())))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def _counts(values: Sequence[float]) -> str:
    return ", ".join(f"{v:g}" for v in values) or "no nodes"
