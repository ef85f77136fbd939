"""When to look at the folder again: file-system events (inotify on Linux, FSEvents on macOS,
through watchdog), or a timer where events do not reach (a network share: `--poll`).

Events are only a trigger: after the last one, the watcher waits for the folder to be quiet for
a moment (a camera import of 500 files is one batch), then scans it; the scan, not the events,
says what changed, so an event lost or merged by the kernel loses nothing. Events also tell which
files are open for writing: a file is read only once it was closed, or left unchanged for a while.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from watchdog.events import (
    DirMovedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

# A file written to without being closed for this long is read anyway (a writer that died, an
# event lost): the watcher never waits on it forever.
WRITING_TIMEOUT_S = 120.0


class Trigger(FileSystemEventHandler):
    """Collects events from watchdog's thread; the watcher waits on it."""

    def __init__(self, root: Path, poll_s: float | None = None) -> None:
        self.root = root
        self.poll_s = poll_s
        self._changed = threading.Condition()
        self._last_event: float | None = None  # monotonic time of the last event not yet handled
        self._writing: dict[str, float] = {}  # path -> when it was last written to (not yet closed)
        self._observer: BaseObserver | None = None

    def start(self) -> None:
        if self.poll_s is None:
            self._observer = Observer()
            self._observer.schedule(self, str(self.root), recursive=True)
            self._observer.start()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileOpenedEvent | FileClosedNoWriteEvent):
            return  # reads, the watcher's own among them
        path = self._relative(event.src_path)
        with self._changed:
            if isinstance(event, FileClosedEvent):
                self._writing.pop(path, None)
            elif not event.is_directory and event.event_type == "modified":
                # Not "created": watchdog also reports the files found in a directory just made or
                # moved in, and those are never closed; a file is written to before it is complete.
                self._writing[path] = time.monotonic()
            elif isinstance(event, DirMovedEvent) or event.event_type in ("moved", "deleted"):
                self._writing.pop(path, None)
            self._last_event = time.monotonic()
            self._changed.notify_all()

    def _relative(self, path: bytes | str) -> str:
        return os.path.relpath(os.fsdecode(path), self.root).replace(os.sep, "/")

    def being_written(self, path: str) -> bool:
        with self._changed:
            since = self._writing.get(path)
            return since is not None and time.monotonic() - since < WRITING_TIMEOUT_S

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Until something changed (True) or `timeout` seconds passed; polling: the timer alone."""
        if self.poll_s is not None:
            stop.wait(min(timeout, self.poll_s))
            return not stop.is_set()
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._last_event is None and not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.5))
        return not stop.is_set()

    def quiet(self, quiet_s: float, longest_s: float, stop: threading.Event) -> None:
        """Until no event came for `quiet_s`, or `longest_s` passed (a copy that never pauses is
        still taken in batches); then the events so far count as handled."""
        started = time.monotonic()
        with self._changed:
            while not stop.is_set() and self._last_event is not None:
                now = time.monotonic()
                if now - self._last_event >= quiet_s or now - started >= longest_s:
                    break
                self._changed.wait(min(quiet_s - (now - self._last_event), 0.5) + 0.01)
            self._last_event = None
