"""One process at a time opens the embedded store: an exclusive `flock` on a file beside it.

Qdrant Edge locks its write-ahead log, but only after it has opened the segments, and that
opening already rewrites files the holder depends on: a second process that merely tries
would break every later flush of the first (measured with qdrant-edge-py 0.9.0). So the lock
is ours, taken before Edge is touched; the kernel drops it when the process dies, so a
crash never leaves the store locked. `flock`, unlike `lockf`, also refuses a second open
from the same process.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from ingest.errors import UserError

POLL_S = 0.25


class StoreBusy(UserError):
    """The embedded store is held by another process (the page, or another ingest)."""


class DirectoryLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, wait_s: float = 0.0, on_wait: Callable[[], None] | None = None) -> None:
        """Take the lock, retrying for up to wait_s while another process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline, waited = time.monotonic() + wait_s, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise StoreBusy(
                        f"the embedded store at {self.path.parent} is in use by another process "
                        "(the page, or another ingest): wait for it to finish or stop it, "
                        "or run a Qdrant server and set QDRANT_URL"
                    ) from None
                if on_wait and not waited:
                    on_wait()
                waited = True
                time.sleep(POLL_S)

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor drops the flock
