"""The writer's lock on a run directory: one process writes it at a time.

`RunLock.acquire` takes an exclusive ``flock`` on ``run.lock`` in the run
directory and writes who holds it (pid, host, command, since when) into that
file. The operating system drops the lock when the holder's file descriptor
closes, so a process that dies (even by ``kill -9``) never leaves a stale
lock: the description it left behind is simply overwritten by the next
holder. Readers (``evoforge show``, ``export``) take no lock and are never
refused.

Example:
    >>> import tempfile
    >>> run_dir = tempfile.mkdtemp()
    >>> lock = RunLock.acquire(run_dir, command="evoforge run demo.toml")
    >>> try:
    ...     RunLock.acquire(run_dir)
    ... except RunLockedError as exc:
    ...     print(exc.holder["command"], "in use by" in str(exc))
    evoforge run demo.toml True
    >>> lock.release()
    >>> RunLock.acquire(run_dir).release()  # free again
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path
from typing import Any

from evoforge.errors import RunDirError

LOCK_FILE = "run.lock"


class RunLockedError(RunDirError):
    """Another process is writing the run directory; ``holder`` describes it."""

    def __init__(self, message: str, holder: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.holder = holder


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:  # it took the lock a moment ago and has not written yet
        return "another process (it has just started)"
    since = holder.get("since")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
        if isinstance(since, int | float)
        else "?"
    )
    return (
        f"another process: pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
        f" ({holder.get('command', '?')}), since {when}"
    )


def _command_line() -> str:
    """This process's command line, ``python -m evoforge`` shown as ``evoforge``."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    name = program.parent.name if program.name == "__main__.py" else program.name
    return shlex.join([name, *sys.argv[1:]])


def read_holder(run_dir: str | Path) -> dict[str, Any] | None:
    """The description the current (or last) holder wrote, None if none or unreadable."""
    try:
        text = (Path(run_dir) / LOCK_FILE).read_text()
        holder = json.loads(text)
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


class RunLock:
    """An exclusive lock on a run directory, held until `release` or the
    process ends. Make it with `acquire`."""

    def __init__(self, run_dir: Path, fd: int) -> None:
        self.run_dir = run_dir
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, run_dir: str | Path, command: str | None = None) -> RunLock:
        """Lock ``run_dir`` (which must exist) or raise `RunLockedError` naming
        the holder. ``command`` describes this process (default: its argv)."""
        run_dir = Path(run_dir)
        path = run_dir / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunDirError(f"{path}: cannot open the lock file: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_holder(run_dir)
            raise RunLockedError(
                f"{run_dir}: in use by {_describe(holder)}; wait for it to finish"
                " or stop it (Ctrl-C) before writing this run directory",
                holder,
            ) from None
        except OSError as exc:  # e.g. a file system without flock
            os.close(fd)
            raise RunDirError(f"{path}: cannot lock: {exc.strerror}") from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command or _command_line(),
            "since": time.time(),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode(), 0)
        except OSError:
            pass  # the description is a courtesy (e.g. a full disk); the lock holds
        return cls(run_dir, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Unlock (idempotent). The file stays: removing it would let a process
        that opened the old file and one that creates a new one both lock."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # no stale description for `read_holder`
        os.close(fd)  # closing drops the flock

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __del__(self) -> None:
        # A Run dropped without running (e.g. after an error in a test) must
        # not keep its directory locked until the interpreter exits.
        if getattr(self, "_fd", None) is not None:
            self.release()
