"""The driver behind ``cli.py compare``: request -> plan -> execution -> report.

    plan = plan_compare(request)              # plan/: the preset read once, every cell made
    outcome = execute_plan(plan, hooks)       # run/ trains the cells, store/ keeps the records
                                              # report/ rebuilds the tables from the records

``run_compare(request)`` does both (or prints the plan for ``--dry-run``). Each step's input is
the previous step's output: nothing after planning reads the preset or a command-line value.

Output layout of one protocol's folder (default runs/<benchmark>-p<phases>-<preset>):
    <out>/command.txt               the canonical command of the last compare
    <out>/runs/<method>/seed<k>.json one record per finished run
    <out>/runs/<method>@<key>=<value>[,...]/seed<k>.json  the same, of a --grid variant
    <out>/checkpoints/<method>/seed<k>.pt  latest finished phase of an unfinished run
    <out>/table.md, table.csv, accuracy.png (aggregation.png: the a_k of AANets runs)
    <out>/.compare.lock             held by the running compare (one writer per folder)
Several protocols (``--phases 5,10,25``) write one such folder each, ``<out>/p<N>/``, and the
combined table in ``<out>``.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .errors import UserError
from .methods import get_method, list_methods
from .plan.config import list_presets
from .plan.planner import ComparePlan, ProtocolPlan, plan_compare
from .plan.request import CompareRequest, ExecutorChoice, parse_seeds  # noqa: F401  (API)
from .report.folder import ReportResult, rebuild_report
from .store.io import atomic_write_text
from .store.lock import OutputFolderLock
from .store.outdir import (is_write_failure, remove_stale_temp_files_below, scan_out_dir,
                           user_error_for_os_error)

if TYPE_CHECKING:
    from .plan.cells import RunSpec
    from .run.executors import Executor


@dataclass(frozen=True)
class Hooks:
    """Where a compare reports to, and the tests' hook after every phase."""

    echo: Callable[[str], None] = print                 # progress and summary lines
    warn: Callable[[str], None] | None = None           # warnings [default: stderr]
    after_phase: Callable[[Any, int], None] | None = None  # (RunSpec, phase): tests, footprint

    def warning(self, message: str) -> None:
        (self.warn or (lambda msg: print(msg, file=sys.stderr)))(message)


@dataclass
class CompareResult:
    """What one protocol's folder got."""

    out_dir: Path
    trained: list[tuple[str, int]]
    skipped: list[tuple[str, int]]
    redone: list[tuple[str, int]]   # run files that were unusable and were trained again
    report: ReportResult
    wall_time_s: float
    failed: list[str] = field(default_factory=list)  # cells that failed, one line each


@dataclass
class CompareOutcome:
    """Every protocol's result; the lists below run over all of them."""

    plan: ComparePlan
    results: list[CompareResult]

    @property
    def trained(self) -> list[tuple[str, int]]:
        return [cell for r in self.results for cell in r.trained]

    @property
    def skipped(self) -> list[tuple[str, int]]:
        return [cell for r in self.results for cell in r.skipped]

    @property
    def redone(self) -> list[tuple[str, int]]:
        return [cell for r in self.results for cell in r.redone]

    @property
    def failed(self) -> list[str]:
        return [line for r in self.results for line in r.failed]

    @property
    def report(self) -> ReportResult:
        """The report of the first protocol (the only one, usually)."""
        return self.results[0].report


def run_compare(request: CompareRequest, hooks: Hooks | None = None,
                executor: Executor | None = None) -> CompareOutcome | None:
    """Plan ``request``; print the plan (``dry_run``) or execute it. ``executor``: an executor
    already made (tests, several comparisons on one Ray instance) instead of the request's."""
    hooks = hooks or Hooks()
    if request.preset_was_auto and not request.quiet:
        hooks.echo(f"--preset auto: {request.preset} ("
                   + ("the paper's settings on a CUDA device)" if request.preset == "paper" else
                      "a REDUCED setting for CPUs: no CUDA device for this run; --preset paper "
                      "gives the paper's)"))
    plan = plan_compare(request)
    if request.dry_run:
        from .plan.dry_run import render_plan
        hooks.echo(render_plan(plan))
        return None
    return execute_plan(plan, hooks, executor)


def execute_plan(plan: ComparePlan, hooks: Hooks | None = None,
                 executor: Executor | None = None) -> CompareOutcome:
    """Train every missing cell of ``plan``, protocol by protocol, and rebuild the reports."""
    from .run.executors import executor_for

    hooks = hooks or Hooks()
    quiet = plan.request.quiet
    own = executor is None
    executor = executor or executor_for(plan.request.executor)  # options checked: nothing made yet
    created: list[Path] = []  # folders this compare made: removed again if it fails untouched
    try:
        for protocol in plan.protocols:  # every folder usable before the first cell trains
            created += missing_folders(protocol.out_dir)
            prepare_out_dir(protocol.out_dir)
        results = []
        for protocol in plan.protocols:
            if plan.parent is not None and not quiet:
                hooks.echo(f"=== protocol N={protocol.phases}: {protocol.out_dir}")
            results.append(_run_protocol_locked(plan, protocol, executor, hooks))
    except BaseException:
        remove_untouched(created)
        raise
    finally:
        if own:
            executor.close()
    if plan.parent is not None:
        from .report.combined import COMBINED_CSV, COMBINED_MD, write_combined
        markdown = write_combined(plan.parent, method_order=registry_order())
        if not quiet:
            hooks.echo(markdown)
            hooks.echo(f"wrote {plan.parent / COMBINED_MD}, {plan.parent / COMBINED_CSV}")
    return CompareOutcome(plan, results)


def missing_folders(out: Path) -> list[Path]:
    """The folders ``prepare_out_dir(out)`` will create, deepest first."""
    made, folder = [], Path(out)
    while not folder.exists() and folder != folder.parent:
        made.append(folder)
        folder = folder.parent
    return made


def remove_untouched(created: list[Path]) -> None:
    """After a failed compare: remove the folders it created that hold nothing but its own lock
    files (a missing dataset, a bad option found late), deepest first; anything else stays."""
    ours = {".compare.lock", ".compare.owner"}
    for folder in sorted(set(created), key=lambda p: -len(p.parts)):
        try:
            entries = list(folder.iterdir())
            if any(e.name not in ours or not e.is_file() for e in entries):
                continue
            for entry in entries:
                entry.unlink()
            folder.rmdir()
        except OSError:
            continue


def prepare_out_dir(out: Path) -> Path:
    """Create the output folder and prove it is writable (UserError otherwise)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"output folder {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # nameless where the OS allows: nothing to leave
            pass
    except OSError as exc:
        raise UserError(f"cannot write to output folder {out}: {exc.strerror or exc}") from None
    return out


def _run_protocol_locked(plan: ComparePlan, protocol: ProtocolPlan, executor: Executor,
                         hooks: Hooks) -> CompareResult:
    """One protocol's folder, held by its lock (a second compare stops here)."""
    try:
        with OutputFolderLock(protocol.out_dir, command=shlex.join(sys.argv)):
            return _run_protocol(plan, protocol, executor, hooks)
    except OSError as exc:  # disk full, folder made read-only meanwhile: one line
        if not is_write_failure(exc):
            raise
        raise user_error_for_os_error(exc, protocol.out_dir) from None


def _run_protocol(plan: ComparePlan, protocol: ProtocolPlan, executor: Executor,
                  hooks: Hooks) -> CompareResult:
    """Build the stream, bind the cells, skip what is finished, train the rest, report."""
    from .run.base_phase import remove_base_phases
    from .run.executors import Job
    from .run.executors.cell import remember_stream
    from .run.progress import progress_mode
    from .run.cpu import cpu_kernels
    from .run.runtime import key_part, precision_reason
    from .run.threads import apply_threads, choose_threads
    from .streams import build_stream

    request, out_dir, cfg = plan.request, protocol.out_dir, protocol.config
    say = (lambda msg: None) if request.quiet else hooks.echo
    started = time.perf_counter()
    device = executor.start(request.device)  # the Ray executor connects here
    for removed in remove_stale_temp_files_below(out_dir):
        say(f"removed {removed}, a temporary file left by a killed process")

    say(f"building stream {request.benchmark} ({protocol.phases} phases, preset "
        f"{request.preset})...")
    stream_spec = protocol.protocol.stream
    bench = build_stream(stream_spec)  # reads data: may fail on a missing dataset
    if bench.backbone != protocol.protocol.backbone:
        raise UserError(f"{request.benchmark}: the loaded images call for {bench.backbone}, the "
                        f"plan (from the image headers) for {protocol.protocol.backbone}; "
                        "set data.image_size (--set) to choose")
    remember_stream(stream_spec, bench)  # in-process cells train on this very object
    for note in bench.notes:
        say(note)
    if device == "cpu" and executor.name == "local":  # a Ray cell always trains with one
        choice = choose_threads(request.speed.threads, out_dir=out_dir,
                                runs=[(c.run.name, c.run.seed) for c in protocol.cells],
                                backbone=bench.backbone, channels=int(bench.input_shape[0]),
                                side=int(bench.input_shape[-1]), batch=min(int(cfg.batch_size), 128))
        apply_threads(choice)
        say(f"CPU threads: {choice.threads} ({choice.why}; --threads N to choose)")
    execution = tuple(sorted(key_part(request.speed, bench, device).items()))
    if request.speed.amp == "auto":
        say(f"--amp auto: {'bf16 autocast' if dict(execution).get('amp') else 'fp32'} on "
            f"{device} ({precision_reason(device)})")
    cells = protocol.bind(device, execution)
    by_run = {(c.run.name, c.run.seed): c.run for c in cells}  # name: method[@grid variant]

    def spec(name: str, seed: int) -> RunSpec:
        """This compare's spec of a run, also of one found on disk that it was not asked for
        (another seed or method left in the folder: its key says whether it still matches)."""
        return by_run.get((name, seed)) or replace(cells[0].run, method=name, seed=seed,
                                                   config=cfg, variant=())

    # what is already there: finished runs are kept, runs with other settings stop us,
    # damaged files are set aside and their runs redone (store/outdir.py)
    def registered(name: str) -> bool:
        if any(name == n for n, _ in by_run):
            return True
        if "@" in name:  # a variant of another grid, not in this compare: left alone
            return False
        try:
            get_method(name)
        except UserError:  # a method no longer registered: leave its files alone
            return False
        return True

    folder = scan_out_dir(
        out_dir, requested=list(by_run),
        settings_for=lambda m, s: spec(m, s).settings() if registered(m) else None,
        key_for=lambda m, s: spec(m, s).key() if registered(m) else None,
        # a CPU resume must match the thread count its cells train with (decided here, before
        # any cell trains) and the kernels (a Ray worker's: checked by the cell itself)
        cpu_threads=executor.cell_threads() if device == "cpu" else None,
        cpu_kernels=cpu_kernels() if device == "cpu" and executor.name == "local" else None,
        executor=executor.name, warn=hooks.warning)
    finished, redone = folder.finished, folder.redone
    for path in folder.removed:
        say(f"removed {path}, the checkpoint of a run whose record was already written")
    atomic_write_text(out_dir / "command.txt", protocol.command + "\n")

    todo = [c for c in cells if (c.run.name, c.run.seed) not in finished]
    skipped = [key for key in by_run if key in finished]
    if skipped:
        say(f"{len(skipped)} run(s) already finished, skipped")
    if cfg.reduced:
        say(f"preset {request.preset} is a REDUCED setting: results are not comparable to the "
            "paper")
    outcome = executor.run(todo, Job(out_dir=out_dir, command=protocol.command,
                                     progress=progress_mode(request.quiet), echo=hooks.echo,
                                     say=say, warn=hooks.warning, after_phase=hooks.after_phase,
                                     log=request.log))

    if not outcome.failed:  # every run done: no sibling needs a saved base phase any more
        remove_base_phases(out_dir, [c.run for c in cells])
    if outcome.failed and not (out_dir / "runs").is_dir():
        report = ReportResult(out_dir, 0, None, None)  # every cell failed: nothing to tabulate
    else:
        report = rebuild_report(out_dir, method_order=registry_order(), warn=hooks.warning,
                                versus=request.versus)
        say(report.markdown)
        say(f"wrote {report.table_md}, {report.table_csv}, "
            + ", ".join(str(p) for p in report.plots))
    return CompareResult(out_dir, outcome.trained, skipped, redone, report,
                         time.perf_counter() - started, outcome.failed)


def registry_order() -> list[str]:
    """The one order of methods in every table and plot: the registry's (`list`), whatever
    order --methods gave, so compare's and report's tables read alike."""
    return [m.name for m in list_methods()]


def describe_registry() -> dict[str, list[tuple[str, str]]]:
    """Benchmarks, methods (defaults marked) and presets with one-line descriptions; a method's
    difference from its reference configuration follows on a second line."""
    from .methods import DEFAULT_METHODS
    from .streams import list_streams
    methods = [(m.name, m.description + ("" if m.name in DEFAULT_METHODS else "  [not in the default list]")
                + (f"\nconfig: {m.reference}" if m.reference else ""))
               for m in list_methods()]
    return {"benchmarks": list(list_streams()), "methods": methods, "presets": list_presets()}


__all__ = ["CompareOutcome", "CompareRequest", "CompareResult", "Hooks", "describe_registry",
           "execute_plan", "prepare_out_dir", "run_compare"]
