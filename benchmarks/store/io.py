"""The one atomic write of the harness: records, checkpoints, tables, plots and command files.

Readers (another process, a crashed run's resume, ``report`` beside a running ``compare``) see
the old file or the new one, never half of one: the bytes go to a temporary file with a unique
name in the same folder, are flushed to disk, and replace the target in one rename. A failed
write removes its temporary file and leaves the target untouched.

Files get the permissions any command-line program gives a new file (0666 less the umask:
usually 0644 or 0664), not mkstemp's private 0600, so a results folder shared with colleagues
stays readable. A write that fails because the disk is full (also when torch.save reports it as
a RuntimeError from its zip writer) is an OSError naming the file and the free space left.

Temporary names carry the writer's process id (``.<name>.<pid>.<random>.tmp``) so that the
leftovers of a killed writer can be told from the live temp files of a concurrent ``report``:
``remove_stale_temp_files`` removes only those whose process is gone.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO, Callable

TEMP_SUFFIX = ".tmp"


def temp_prefix(path: Path) -> str:
    """Temporary files for ``path`` start with this (so leftovers of a kill can be found)."""
    return f".{path.name}."


def atomic_write_with(path: str | Path, write: Callable[[BinaryIO], Any], *,
                      verify: Callable[[Path], Any] | None = None) -> Path:
    """Call ``write(fileobj)`` on a fresh temporary file, then move it over ``path``.
    ``verify(temp_path)``, if given, runs on the complete temporary file before the move; if
    it raises, the target keeps its old content."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{temp_prefix(path)}{os.getpid()}.", suffix=TEMP_SUFFIX,
                               dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            try:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            except RuntimeError as exc:  # torch.save's zip writer: "file write failed", ...
                raise _write_failure(path, exc) from None
            except OSError as exc:
                raise _with_free_space(exc, path) from None
        if verify is not None:
            verify(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        # the target is untouched; only our own temporary file goes
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def current_umask() -> int:
    """The process's umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _free_text(folder: Path) -> str:
    free = free_bytes(folder)
    return "free space unknown" if free is None else f"{free / 2**20:.1f} MiB free there"


def _with_free_space(exc: OSError, path: Path) -> OSError:
    """The same error, naming the file and the free space (disk full is the usual cause)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return OSError(exc.errno, f"{reason} ({_free_text(path.parent)})", str(path))


def _write_failure(path: Path, exc: RuntimeError) -> BaseException:
    """torch.save reports a failed write of its zip container as a RuntimeError ("file write
    failed", "unexpected pos ..."); with no space left it is a full disk. Other RuntimeErrors
    (a bug, an unpicklable state) stay what they are."""
    text = str(exc)
    if not any(word in text for word in ("write", "unexpected pos")):
        return exc
    free = free_bytes(path.parent)
    code = errno.ENOSPC if free is not None and free < 2**20 else errno.EIO
    return OSError(code, f"{os.strerror(code)} ({_free_text(path.parent)})", str(path))


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (best effort; not every platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write_with(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any, *, sort_keys: bool = False) -> Path:
    """Indented JSON; NaN and infinities are refused (they are not JSON)."""
    text = json.dumps(data, indent=2, sort_keys=sort_keys, allow_nan=False) + "\n"
    return atomic_write_text(path, text)


def leftover_temp_files(path: str | Path) -> list[Path]:
    """Temporary files a killed writer of ``path`` may have left behind."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    return sorted(path.parent.glob(f"{temp_prefix(path)}*{TEMP_SUFFIX}"))


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (a killed writer's does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")


def remove_stale_temp_files(folder: str | Path, *, ours: Callable[[str], bool] = lambda name: True,
                            min_age_s: float = 60.0) -> list[Path]:
    """Remove the temporary files directly in ``folder`` that a writer of ours left behind:
    named exactly as atomic_write_with names them, for a target ``ours(name)`` accepts, whose
    process is gone, and older than ``min_age_s`` (in case the pid is of another host sharing
    the folder). Returns what was removed; nothing else is ever touched."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for tmp in folder.iterdir():
        match = _TEMP_NAME.match(tmp.name)
        if match is None or not ours(match["target"]) or process_alive(int(match["pid"])):
            continue
        try:
            if now - tmp.stat().st_mtime < min_age_s:
                continue
            tmp.unlink()
        except FileNotFoundError:
            continue
        removed.append(tmp)
    return removed
