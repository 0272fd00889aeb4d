"""What an output folder already holds, checked before `compare` trains anything.

* Finished runs (valid records with this compare's settings) are skipped.
* Records or checkpoints made with other settings stop the compare, naming the settings that
  differ: mixing them would make tables that compare unlike runs, and redoing them would throw
  away someone's work.
* Damaged records and checkpoints (torn, not UTF-8, NaN, copied to another run's path, refused
  by the safe loader) are set aside under a unique name, never deleted or overwritten, and
  reported one line each; their runs are trained again.
* A checkpoint written under another CPU thread count is refused: the numbers would match
  neither thread count, so the user chooses (same OMP_NUM_THREADS, or restart the run).
* Temporary files left by a killed process of ours are removed.

It never imports Avalanche: the callers pass what a run's settings are.
"""

from __future__ import annotations

import errno
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .checkpoint import CheckpointError, find_checkpoints, read_checkpoint_meta, remove_checkpoint
from ..errors import UserError
from .io import remove_stale_temp_files
from .records import (RecordError, find_record_files, load_record, record_run_name,
                      settings_from_record, with_added_settings)

Warn = Callable[[str], None]


@dataclass
class FolderState:
    """Result of scanning an output folder against the requested runs."""

    finished: set[tuple[str, int]] = field(default_factory=set)
    redone: list[tuple[str, int]] = field(default_factory=list)  # damaged, trained again
    set_aside: list[Path] = field(default_factory=list)          # where the damaged files went
    removed: list[Path] = field(default_factory=list)            # stale checkpoints of finished runs


# ----------------------------------------------------------------------------- set aside


def set_aside(path: Path) -> Path:
    """Rename ``path`` to ``<name>.damaged-<UTC time>-<random>`` beside it and return the new
    path: a unique name, so a second damage never overwrites the first one's evidence."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.damaged-{stamp}-{uuid.uuid4().hex[:8]}")
    path.rename(target)
    return target


# the files a compare writes, per folder: only their temporary files are ever cleaned up
_OUR_FILES = re.compile(r"^(table\.md|table\.csv|accuracy.*\.png|command\.txt|\.compare\.owner)$")
_OUR_RUN_FILES = re.compile(r"^seed\d+\.(json|pt)$")


def remove_stale_temp_files_below(out_dir: Path) -> list[Path]:
    """Our temporary files left by killed processes in <out>, <out>/runs/* and
    <out>/checkpoints/* (the only places we write), removed; returns them."""
    out_dir = Path(out_dir)
    removed = remove_stale_temp_files(out_dir, ours=lambda name: bool(_OUR_FILES.match(name)))
    for folder in [*sorted((out_dir / "runs").glob("*/")),
                   *sorted((out_dir / "checkpoints").glob("*/")),
                   *sorted((out_dir / "checkpoints" / "_base").glob("*/"))]:  # base_phase.py
        removed += remove_stale_temp_files(folder, ours=lambda n: bool(_OUR_RUN_FILES.match(n)))
    return removed


_WRITE_FAILURES = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT,
                   errno.EFBIG, errno.EIO}


def is_write_failure(exc: OSError) -> bool:
    """Disk full, quota, read-only file system, permissions: the user's to fix, not a bug."""
    return exc.errno in _WRITE_FAILURES


def user_error_for_os_error(exc: OSError, out_dir: Path) -> UserError:
    """One line for a write that failed under us (disk full, read-only, permissions)."""
    where = exc.filename or out_dir
    reason = exc.strerror or str(exc) or type(exc).__name__
    return UserError(f"cannot write to {where}: {reason}; nothing was left half-written: free "
                     "space or fix the folder's permissions, then run the same command again")


# ----------------------------------------------------------------------------- settings


def _flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def settings_difference(saved: dict[str, Any], wanted: dict[str, Any]) -> str:
    """'epochs 1 (saved) vs 2 (now), lr ...' over the keys whose values differ."""
    # as JSON sees them: a record's lists against the tuples of the live settings
    old, new = (_flatten(json.loads(json.dumps(with_added_settings(d), default=str)))
                for d in (saved, wanted))
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k, "-") != new.get(k, "-")]
    keys = [k.removeprefix("config.") for k in keys]
    if not keys:
        return "made by another version of the harness"
    shown = [f"{k} {_show(_get(old, k))} (saved) vs {_show(_get(new, k))} (now)" for k in keys[:4]]
    more = f" and {len(keys) - 4} more" if len(keys) > 4 else ""
    return ", ".join(shown) + more


def _get(flat: dict[str, Any], key: str) -> Any:
    return flat.get(key, flat.get(f"config.{key}", "unset"))


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def thread_count_error(path: Path, saved: Any, now: int, *, executor: str = "local") -> UserError:
    """Refusal to resume a CPU run under another thread count, saying how to go on."""
    if executor == "ray":  # a Ray cell always trains with one thread: the count cannot be met
        advice = (f"resume it with --executor local and OMP_NUM_THREADS={saved}, or use another "
                  "--out to train afresh")
    else:
        advice = (f"run the same command with OMP_NUM_THREADS={saved} to resume, or move the "
                  "checkpoint away to restart that run")
    return UserError(f"{path} was written with {saved} CPU thread(s) and this "
                     f"{'run' if executor == 'local' else 'executor'} has {now}: the resumed "
                     f"numbers would match neither; {advice}")


def kernels_error(path: Path, saved: dict[str, Any], now: dict[str, Any]) -> UserError:
    """Refusal to resume a CPU run under other CPU kernels (another kind of CPU), saying how."""
    return UserError(f"{path} was written with other CPU kernels (ATen {saved.get('aten')}, "
                     f"oneDNN {saved.get('onednn')}) than this machine's (ATen {now.get('aten')}, "
                     f"oneDNN {now.get('onednn')}): the resumed numbers would match neither; "
                     "resume it on a CPU of the kind that wrote it (a newer CPU can be lowered: "
                     "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 for AVX2), or move the "
                     "checkpoint away to restart that run")


def cpu_mismatch(meta: dict[str, Any], path: Path, *, threads: int | None,
                 kernels: dict[str, Any] | None, executor: str = "local") -> UserError | None:
    """The refusal a CPU resume from ``meta`` gets here, or None. A checkpoint made before
    kernels were recorded is judged by its thread count alone."""
    if threads is not None and meta.get("cpu_threads") != threads:
        return thread_count_error(path, meta.get("cpu_threads"), threads, executor=executor)
    saved = meta.get("cpu_kernels")
    if kernels is not None and isinstance(saved, dict) and saved != kernels:
        return kernels_error(path, saved, kernels)
    return None


# ----------------------------------------------------------------------------- scanning


def _run_of(path: Path, suffix: str) -> tuple[str, int] | None:
    """(method, seed) from <out>/<kind>/<method>/seed<k><suffix>, None if the name is not one."""
    seed_text = path.name.removeprefix("seed").removesuffix(suffix)
    if not path.name.startswith("seed") or not seed_text.isdigit():
        return None
    return path.parent.name, int(seed_text)


def scan_out_dir(out_dir: Path, *, requested: Iterable[tuple[str, int]],
                 settings_for: Callable[[str, int], dict[str, Any] | None],
                 key_for: Callable[[str, int], str | None], cpu_threads: int | None,
                 warn: Warn, cpu_kernels: dict[str, Any] | None = None,
                 executor: str = "local") -> FolderState:
    """Check every record and checkpoint of ``out_dir`` (see module docstring).

    ``settings_for(name, seed)`` / ``key_for(name, seed)``: this compare's settings and run key
    for a run (a method, or a grid variant ``<method>@<variant>``: records.run_name), None for a
    run it does not know (a method no longer registered, a variant of another grid: its files
    are left alone). ``requested``: the (run name, seed) of this compare's cells.
    ``cpu_threads`` / ``cpu_kernels``: what a CPU resume must match (None: not checked;
    ``executor`` names who resumes, for the advice). A checkpoint of a run whose record
    is already safe (killed between the two writes) is removed: it is ours (same run key) and
    nothing uses it.
    """
    out_dir = Path(out_dir)
    requested = set(requested)
    state = FolderState()
    conflicts: list[str] = []

    def damaged(path: Path, what: str, reason: str) -> None:
        target = set_aside(path)
        state.set_aside.append(target)
        run = _run_of(path, path.suffix)
        redo = run is not None and run in requested
        consequence = "the run will be redone" if what == "run file" else "the run restarts from phase 0"
        warn(f"warning: {what} {path} is unusable ({reason}); kept as {target.name}"
             + (f"; {consequence}" if redo else ""))
        if redo and what == "run file":
            state.redone.append(run)

    for path in find_record_files(out_dir):
        try:
            rec = load_record(path)
        except RecordError as exc:
            damaged(path, "run file", str(exc))
            continue
        run = (record_run_name(rec), rec["seed"])  # a grid variant: <method>@<variant>
        key = key_for(*run)
        if key is None:
            continue
        if rec["run_key"] != key:
            conflicts.append(f"{path.relative_to(out_dir)}: "
                             f"{settings_difference(settings_from_record(rec), settings_for(*run))}")
        elif run in requested:
            state.finished.add(run)

    for path in find_checkpoints(out_dir):
        run = _run_of(path, ".pt")
        if run is None or key_for(*run) is None:
            continue
        try:
            meta = read_checkpoint_meta(path)
        except CheckpointError as exc:
            damaged(path, "checkpoint", str(exc))
            continue
        if meta.get("run_key") != key_for(*run):
            saved = meta.get("settings") if isinstance(meta.get("settings"), dict) else {}
            conflicts.append(f"{path.relative_to(out_dir)} (unfinished run): "
                             f"{settings_difference(saved, settings_for(*run))}")
        elif run in state.finished:  # killed after its record was written: stale, ours
            remove_checkpoint(path)
            state.removed.append(path)
        elif run in requested:
            refusal = cpu_mismatch(meta, path, threads=cpu_threads, kernels=cpu_kernels,
                                   executor=executor)
            if refusal is not None:
                raise refusal

    if conflicts:
        listed = "; ".join(conflicts[:3]) + (f"; and {len(conflicts) - 3} more" if len(conflicts) > 3 else "")
        raise UserError(f"{out_dir} already holds runs made with other settings ({listed}); "
                        "use another --out, or the settings they were made with")
    return state
