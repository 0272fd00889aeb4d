"""Orchestration behind ``cli.py compare / report / list``.

run_compare validates everything (names, seeds, preset, device, output folder, the stream and
any run files already there) before the first training step, then trains the missing runs
(method x seed), each resumable, and rebuilds the report (table.md, table.csv, accuracy.png).

Output layout of one comparison (default folder runs/<benchmark>-p<phases>-<preset>):
    <out>/command.txt               the canonical command of the last compare
    <out>/runs/<method>/seed<k>.json one record per finished run
    <out>/checkpoints/<method>/seed<k>.pt  latest finished phase of an unfinished run
    <out>/table.md, table.csv, accuracy.png
    <out>/.compare.lock             held by the running compare (one writer per folder)
"""

from __future__ import annotations

import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .base_phase import remove_base_phases
from .config import list_presets, load_config, stream_settings
from .errors import UserError
from .io import atomic_write_text
from .lock import OutputFolderLock
from .methods import get_method, list_methods, parse_methods
from .outdir import (is_write_failure, remove_stale_temp_files_below, scan_out_dir,
                     user_error_for_os_error)
from .protocols import parse_int_list, settings_tag
from .report import ReportResult, rebuild_report
from .runtime import SpeedOptions, key_part

if TYPE_CHECKING:
    from .executors import Executor

MAX_SEED = 2**32 - 1


@dataclass
class CompareResult:
    out_dir: Path
    trained: list[tuple[str, int]]
    skipped: list[tuple[str, int]]
    redone: list[tuple[str, int]]   # run files that were unusable and were trained again
    report: ReportResult
    wall_time_s: float
    failed: list[str] = field(default_factory=list)  # cells that failed, one line each


# ----------------------------------------------------------------------------- parsing


def parse_seeds(text: str | Sequence[int] | None) -> tuple[int, ...]:
    """'1993,1,2' -> (1993, 1, 2); UserError on anything else."""
    if text is None:
        return (1993,)
    return parse_int_list(text, low=0, high=MAX_SEED,
                          bad=f"bad seed list {text!r}: give comma-separated integers in "
                              f"0..{MAX_SEED}, e.g. 1993,1994",
                          repeated=f"bad seed list {text!r}: a seed is repeated")


def default_out_dir(benchmark: str, phases: int, preset: str, epochs: int | None = None,
                    sets: Sequence[str] = ()) -> Path:
    """runs/<benchmark>-p<phases>-<preset>[-e<epochs>][-set<hash of the --set items>]."""
    name = (f"{benchmark}-p{phases}-{Path(preset).stem}"
            + (f"-e{epochs}" if epochs is not None else "") + settings_tag(sets))
    return Path("runs") / name


def canonical_command(*, benchmark: str, phases: int, methods: Sequence[str], seeds: Sequence[int],
                      preset: str, epochs: int | None, data_root: str | None, out: Path,
                      device: str, base_classes: int | None, class_order_seed: int,
                      sets: Sequence[str] = (), speed: SpeedOptions | None = None) -> str:
    """The exact command that reproduces a comparison (every choice spelled out)."""
    args = ["python", "cli.py", "compare", "--benchmark", benchmark, "--phases", str(phases)]
    if base_classes is not None:
        args += ["--base-classes", str(base_classes)]
    if class_order_seed != 1993:
        args += ["--class-order-seed", str(class_order_seed)]
    args += ["--methods", ",".join(methods), "--seeds", ",".join(str(s) for s in seeds),
             "--preset", preset]
    if epochs is not None:
        args += ["--epochs", str(epochs)]
    for item in sets:
        args += ["--set", item]
    if data_root is not None:
        args += ["--data-root", data_root]
    args += ["--out", str(out), "--device", device]
    if speed is not None:
        if speed.num_workers is not None:
            args += ["--num-workers", str(speed.num_workers)]
        args += ["--amp"] if speed.amp else []
        args += ["--compile"] if speed.compile else []
        if speed.channels_last is not None:
            args += ["--channels-last" if speed.channels_last else "--no-channels-last"]
    return shlex.join(args)


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


# ----------------------------------------------------------------------------- compare


def run_compare(*, benchmark: str, phases: int, methods: str | Sequence[str] | None = None,
                seeds: str | Sequence[int] | None = None, preset: str = "cpu",
                epochs: int | None = None, data_root: str | None = None,
                out: str | Path | None = None, device: str = "auto", quiet: bool = False,
                base_classes: int | None = None, class_order_seed: int = 1993,
                sets: Sequence[str] = (), skip_bad_images: bool = False,
                amp: bool = False, num_workers: int | None = None, compile: bool = False,
                channels_last: bool | None = None, echo: Callable[[str], None] = print,
                warn: Callable[[str], None] | None = None,
                after_phase: Callable[[Any, int], None] | None = None,
                log: Sequence[str] = (), executor: Executor | None = None) -> CompareResult:
    """Train every missing (method, seed) run with ``executor`` (default: in this process),
    then rebuild the report. See module docstring. ``sets`` are ``dotted.key=value`` overrides
    of the preset (``--set``); ``log``: Avalanche loggers for every run (tensorboard, csv,
    wandb; see run_logging.py)."""
    from .run_logging import parse_log_kinds
    from .streams import StreamSpec, describe_stream

    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    say = (lambda msg: None) if quiet else echo
    started = time.perf_counter()

    # 1. cheap validation, nothing written yet
    method_names = parse_methods(",".join(methods) if isinstance(methods, (list, tuple)) else methods)
    seed_list = parse_seeds(seeds)
    log_kinds = parse_log_kinds(log)
    if epochs is not None and epochs < 1:
        raise UserError(f"--epochs must be at least 1 (got {epochs})")
    sets = tuple(sets)
    probe = load_config(preset, overrides={"epochs": epochs}, sets=sets)  # well-formed, typed
    speed = SpeedOptions(amp=amp, num_workers=num_workers, compile=compile,
                         channels_last=channels_last)
    stream_kw = stream_settings(probe, name=benchmark, phases=phases, base_classes=base_classes,
                                class_order_seed=class_order_seed, data_root=data_root,
                                skip_bad_images=skip_bad_images)
    describe_stream(StreamSpec(**stream_kw))  # benchmark name, phases, class order: no data read
    out_dir = (Path(out) if out is not None
               else default_out_dir(benchmark, phases, preset, epochs, sets))
    prepare_out_dir(out_dir)

    # one writer per folder: a second compare stops here, before the slow imports
    try:
        with OutputFolderLock(out_dir, command=shlex.join(sys.argv)):
            return _compare_locked(
                benchmark=benchmark, phases=phases, method_names=method_names,
                seed_list=seed_list, preset=preset, epochs=epochs, sets=sets,
                data_root=data_root, out_dir=out_dir, device=device, quiet=quiet,
                base_classes=base_classes, class_order_seed=class_order_seed,
                stream_kw=stream_kw, warn=warn, say=say, after_phase=after_phase,
                started=started, echo=echo, log_kinds=log_kinds, speed=speed,
                executor=executor)
    except OSError as exc:  # disk full, folder made read-only meanwhile: one line
        if not is_write_failure(exc):
            raise
        raise user_error_for_os_error(exc, out_dir) from None


def _compare_locked(*, benchmark: str, phases: int, method_names: tuple[str, ...],
                    seed_list: tuple[int, ...], preset: str, epochs: int | None,
                    sets: tuple[str, ...], data_root: str | None, out_dir: Path, device: str,
                    quiet: bool, base_classes: int | None, class_order_seed: int,
                    stream_kw: dict[str, Any], warn: Callable[[str], None],
                    say: Callable[[str], None], after_phase: Callable[[Any, int], None] | None,
                    started: float, echo: Callable[[str], None],
                    log_kinds: tuple[str, ...], speed: SpeedOptions,
                    executor: Executor | None) -> CompareResult:
    """run_compare's work once it holds the folder's lock."""
    from .executors import Cell, Job, make_executor
    from .executors.cell import remember_stream
    from .progress import progress_mode
    from .runner import RunSpec, cpu_threads  # avalanche: only now
    from .streams import StreamSpec, build_stream

    executor = executor or make_executor("local")
    resolved_device = executor.start(device)  # the Ray executor connects here
    for removed in remove_stale_temp_files_below(out_dir):
        say(f"removed {removed}, a temporary file left by a killed process")

    # 2. the stream (reads data: may fail on a missing dataset) and the frozen config
    say(f"building stream {benchmark} ({phases} phases, preset {preset})...")
    stream_spec = StreamSpec(**stream_kw)
    bench = build_stream(stream_spec)
    remember_stream(stream_spec, bench)  # in-process cells train on this very object
    for note in bench.notes:
        say(note)
    cfg = load_config(preset, backbone=bench.backbone, overrides={"epochs": epochs}, sets=sets)

    execution = tuple(sorted(key_part(speed, bench, resolved_device).items()))

    def spec_for(method: str, seed: int) -> RunSpec:
        return RunSpec(benchmark=benchmark, phases=phases, method=method, seed=seed, config=cfg,
                       device=resolved_device, base_classes=base_classes,
                       class_order_seed=class_order_seed, speed=speed, execution=execution)

    # 3. what is already there: finished runs are kept, runs with other settings stop us,
    #    damaged files are set aside and their runs redone (benchmarks/outdir.py)
    def registered(method: str) -> bool:
        try:
            get_method(method)
        except UserError:  # a method no longer registered: leave its files alone
            return False
        return True

    folder = scan_out_dir(
        out_dir, requested=[(m, s) for m in method_names for s in seed_list],
        settings_for=lambda m, s: spec_for(m, s).settings() if registered(m) else None,
        key_for=lambda m, s: spec_for(m, s).key() if registered(m) else None,
        # a Ray cell runs with its worker's thread count, which its own resume check compares
        cpu_threads=cpu_threads() if resolved_device == "cpu" and executor.name == "local"
        else None, warn=warn)
    finished, redone = folder.finished, folder.redone

    command = canonical_command(benchmark=benchmark, phases=phases, methods=method_names,
                                seeds=seed_list, preset=preset, epochs=epochs, data_root=data_root,
                                out=out_dir, device=device, base_classes=base_classes,
                                class_order_seed=class_order_seed, sets=sets, speed=speed)
    atomic_write_text(out_dir / "command.txt", command + "\n")

    # 4. train what is missing
    todo = [(m, s) for m in method_names for s in seed_list if (m, s) not in finished]
    skipped = [(m, s) for m in method_names for s in seed_list if (m, s) in finished]
    if skipped:
        say(f"{len(skipped)} run(s) already finished, skipped")
    if cfg.reduced:
        say(f"preset {preset} is a REDUCED setting: results are not comparable to the paper")
    cells = [Cell(spec_for(m, s), stream_spec) for m, s in todo]
    outcome = executor.run(cells, Job(out_dir=out_dir, command=command,
                                      progress=progress_mode(quiet), echo=echo, say=say,
                                      warn=warn, after_phase=after_phase, log=log_kinds))

    if not outcome.failed:  # every run done: no sibling needs a saved base phase any more
        remove_base_phases(out_dir)
    if outcome.failed and not (out_dir / "runs").is_dir():
        report = ReportResult(out_dir, 0, None, None)  # every cell failed: nothing to tabulate
    else:
        report = rebuild_report(out_dir, method_order=method_names, warn=warn)
        say(report.markdown)
        say(f"wrote {report.table_md}, {report.table_csv}, "
            + ", ".join(str(p) for p in report.plots))
    return CompareResult(out_dir, outcome.trained, skipped, redone, report,
                         time.perf_counter() - started, outcome.failed)


def run_compare_protocols(*, benchmark: str, phases: Sequence[int], dry_run: bool = False,
                          out: str | Path | None = None, preset: str = "cpu",
                          epochs: int | None = None, sets: Sequence[str] = (),
                          methods: str | Sequence[str] | None = None,
                          seeds: str | Sequence[int] | None = None,
                          echo: Callable[[str], None] = print, quiet: bool = False,
                          **compare_kw: Any) -> Any:
    """One protocol: ``run_compare`` into its folder. Several (``--phases 5,10,25``): each into
    ``<out>/p<N>/`` plus the combined table. ``dry_run``: print the plan, touch nothing."""
    from .protocols import protocol_dirs, protocols_out_dir, run_protocols
    from .streams import StreamSpec, describe_stream

    phases, sets = tuple(phases), tuple(sets)
    method_names = parse_methods(",".join(methods) if isinstance(methods, (list, tuple)) else methods)
    seed_list = parse_seeds(seeds)
    if len(phases) == 1:
        out_dirs = {phases[0]: Path(out) if out is not None
                    else default_out_dir(benchmark, phases[0], preset, epochs, sets)}
    else:
        out_dirs = protocol_dirs(Path(out) if out is not None
                                 else protocols_out_dir(benchmark, phases, preset, epochs, sets),
                                 phases)
    if dry_run:
        from .plan import build_plan
        echo(build_plan(benchmark=benchmark, phases=phases, methods=method_names, seeds=seed_list,
                        preset=preset, sets=sets, epochs=epochs, out_dirs=out_dirs,
                        base_classes=compare_kw.get("base_classes"),
                        class_order_seed=compare_kw.get("class_order_seed", 1993),
                        data_root=compare_kw.get("data_root")))
        return None
    common = dict(methods=method_names, seeds=seed_list, preset=preset, epochs=epochs, sets=sets,
                  echo=echo, quiet=quiet, **compare_kw)
    if len(phases) == 1:
        return run_compare(benchmark=benchmark, phases=phases[0], out=out_dirs[phases[0]], **common)
    probe = load_config(preset, overrides={"epochs": epochs}, sets=sets)

    def validate(n: int) -> None:
        describe_stream(StreamSpec(**stream_settings(
            probe, name=benchmark, phases=n, base_classes=compare_kw.get("base_classes"),
            class_order_seed=compare_kw.get("class_order_seed", 1993),
            data_root=compare_kw.get("data_root"))))

    return run_protocols(benchmark=benchmark, phases=phases, out=out_dirs[phases[0]].parent,
                         run_compare=run_compare, validate=validate, method_order=method_names,
                         **common)


def describe_registry() -> dict[str, list[tuple[str, str]]]:
    """Benchmarks, methods (defaults marked) and presets with one-line descriptions; a method's
    difference from its reference configuration follows on a second line."""
    from .methods import DEFAULT_METHODS
    from .streams import list_streams
    methods = [(m.name, m.description + ("" if m.name in DEFAULT_METHODS else "  [not in the default list]")
                + (f"\nconfig: {m.reference}" if m.reference else ""))
               for m in list_methods()]
    return {"benchmarks": list(list_streams()), "methods": methods, "presets": list_presets()}
