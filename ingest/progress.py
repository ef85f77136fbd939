"""Progress of long work, on stderr (stdout stays clean for --json and pipes).

On a terminal each phase is a live bar. Anywhere else (`> load.log`, `| tee`, a container's
log) a bar cannot be redrawn, so a phase is written as plain lines, flushed as they happen:
one when it has run for a while, one every LOG_EVERY_S while it lasts, and one when it ends.
Short phases stay quiet in a log; the summary speaks for them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)
LOG_EVERY_S = 10.0
LOG_AFTER_S = 2.0  # a phase shorter than this writes no line


class Bar:
    """What a phase reports: steps done, and its description as it changes."""

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        pass

    def finish(self, description: str) -> None:
        """The phase's last word (e.g. an epoch's losses): replaces the bar's description."""


class _LiveBar(Bar):
    def __init__(self, bar: Progress, task) -> None:
        self.bar, self.task = bar, task

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        self.bar.update(self.task, advance=steps, description=description or None)  # None: left as it was

    def finish(self, description: str) -> None:
        self.bar.update(self.task, description=description)


class _LogBar(Bar):
    def __init__(self, description: str, total: int | None) -> None:
        self.description, self.total, self.done = description, total, 0
        self.started = self.last = time.monotonic()
        self.final: str | None = None

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        self.done += steps
        if description:
            self.description = description
        now = time.monotonic()
        if now - self.last >= LOG_EVERY_S:
            self.last = now
            self._write(f"{self.description}: {self._count()} ({now - self.started:.0f}s)")

    def finish(self, description: str) -> None:
        self.final = description

    def close(self) -> None:
        elapsed = time.monotonic() - self.started
        if self.final is not None:
            self._write(f"{self.final} ({elapsed:.1f}s)")
        elif elapsed >= LOG_AFTER_S:
            self._write(f"{self.description}: {self._count()} in {elapsed:.1f}s")

    def _count(self) -> str:
        if not self.total:
            return f"{self.done:,}" if self.done else "done"
        return f"{self.done:,}/{self.total:,} ({self.done / self.total:.0%})"

    @staticmethod
    def _write(line: str) -> None:
        print(line, file=sys.stderr, flush=True)


@contextmanager
def progress(description: str, total: int | None, enabled: bool = True) -> Iterator[Bar]:
    """A phase of `total` steps (None: unknown)."""
    if not enabled:
        yield Bar()
        return
    if not console.is_terminal:
        bar = _LogBar(description, total)
        try:
            yield bar
        finally:
            bar.close()
        return
    remaining = TimeRemainingColumn() if total else TimeElapsedColumn()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), remaining, console=console, transient=False
    ) as live:
        yield _LiveBar(live, live.add_task(description, total=total))
