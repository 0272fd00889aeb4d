"""One writer per output folder: the lock `compare` holds for its whole duration.

A second `compare` on the same folder must stop at once (two writers would train the same runs
twice and race on every file), with a line that names the holder. The lock is the `filelock`
package's FileLock: an OS lock (flock) on ``<out>/.compare.lock`` that the kernel releases when
the holder dies, so a killed compare never leaves a stale lock behind. Who holds it (pid, host,
start time, command) is written beside it in ``<out>/.compare.owner`` for the refusal message
and removed on release.
`report` only reads and never takes the lock.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from ..errors import UserError
from .io import atomic_write_json, process_alive

LOCK_NAME = ".compare.lock"
OWNER_NAME = ".compare.owner"


class OutputFolderBusy(UserError):
    """Another process holds the output folder's lock."""


def describe_holder(out_dir: Path) -> str:
    """'pid 123 on host, since 07:30:02 UTC: python cli.py compare ...' (best effort)."""
    try:
        owner = json.loads((Path(out_dir) / OWNER_NAME).read_text(encoding="utf-8"))
        since = time.strftime("%H:%M:%S UTC", time.gmtime(float(owner["started"])))
        pid, host = int(owner["pid"]), str(owner["host"])
        text = f"pid {pid} on {host}, since {since}"
        command = str(owner.get("command") or "")
        text += f": {command}" if command else ""
        if host == socket.gethostname() and not process_alive(pid):
            # only possible where the file system has no OS locks (filelock's soft fallback)
            text += (f"; that process is gone, so if no compare runs here, delete "
                     f"{Path(out_dir) / LOCK_NAME}")
        return text
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (holder unknown)"


def _refuse_odd_file(path: Path) -> None:
    """UserError unless ``path`` is absent or a plain file: a folder there cannot be locked and
    a symbolic link would lock (and the owner note overwrite) whatever it points to."""
    if path.is_symlink() or (os.path.lexists(path) and not path.is_file()):
        kind = ("a symbolic link" if path.is_symlink() else "a folder" if path.is_dir()
                else "a special file")
        raise UserError(f"{path} is not a plain file ({kind}): remove it, or use another --out")


class OutputFolderLock:
    """Context manager: hold ``<out>/.compare.lock`` or raise OutputFolderBusy immediately."""

    def __init__(self, out_dir: str | Path, command: str = "") -> None:
        self.out_dir = Path(out_dir)
        self.command = command
        self._lock = FileLock(str(self.out_dir / LOCK_NAME), timeout=0, thread_local=False)

    @property
    def is_locked(self) -> bool:
        return self._lock.is_locked

    def acquire(self) -> "OutputFolderLock":
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file where the folder should be, no permission, ...
            raise UserError(f"cannot use {self.out_dir} as the output folder "
                            f"({exc.strerror or exc}); use another --out") from None
        for name in (LOCK_NAME, OWNER_NAME):
            _refuse_odd_file(self.out_dir / name)
        try:
            self._lock.acquire(blocking=False)
        except Timeout:
            raise OutputFolderBusy(
                f"{self.out_dir} is in use by another compare ({describe_holder(self.out_dir)}); "
                "wait for it to finish or use another --out") from None
        except OSError as exc:  # a file system without locks, no permission, ...
            raise UserError(f"cannot lock {self.out_dir / LOCK_NAME} ({exc.strerror or exc}); "
                            "use another --out") from None
        try:
            atomic_write_json(self.out_dir / OWNER_NAME,
                              {"pid": os.getpid(), "host": socket.gethostname(),
                               "started": time.time(), "command": self.command})
        except BaseException:
            self._lock.release()
            raise
        return self

    def release(self) -> None:
        """Remove the owner note (while still holding the lock, so never another holder's),
        then release: a finished compare leaves the folder as it found it."""
        if self._lock.is_locked:
            try:
                (self.out_dir / OWNER_NAME).unlink()
            except FileNotFoundError:
                pass
            finally:
                self._lock.release()

    def __enter__(self) -> "OutputFolderLock":
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
