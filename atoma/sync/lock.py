"""One syncing process per database: an OS advisory lock on ``<db path>.lock``.

``flock`` (``LockFileEx`` on Windows) locks belong to an open file, so the operating system
drops them when the holder exits for any reason, ``kill -9`` included: a crash never leaves a
stale lock behind, and nothing has to guess from PIDs or timestamps. The file's content (the
holder's PID) is only informative, for the error message.
"""

from __future__ import annotations

import os
import sys

from ..errors import ClientLocked

__all__ = ["SyncLock", "lock_path"]


def lock_path(db_path: str) -> str:
    return f"{os.path.abspath(db_path)}.lock"


class SyncLock:
    """An exclusive, non-blocking lock. ``acquire()`` raises :class:`ClientLocked` if another
    process (or another client in this process) holds it."""

    def __init__(self, db_path: str) -> None:
        self.path = lock_path(db_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd)
        except OSError:
            holder = _read(fd)
            os.close(fd)
            raise ClientLocked(
                f"another process{f' (pid {holder})' if holder else ''} is syncing {self.path[:-5]!r}; "
                "one syncing process per database (open it without a server to read it)",
                details={"lock": self.path, "pid": int(holder) if holder.isdigit() else None},
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                _unlock(fd)
            finally:
                os.close(fd)

    def __enter__(self) -> "SyncLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode(errors="replace").strip()
    except OSError:
        return ""


if sys.platform == "win32":  # pragma: no cover - exercised on Windows CI only
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
