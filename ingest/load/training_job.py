"""One `ingest train` at a time per data directory, and starting or stopping one from the page.

Two trainings on one machine would each get half of it and both end later, so `ingest train`
holds an exclusive `flock` on `models/training.lock` while it runs, and writes into the file who
holds it (pid, collection, since when). The kernel drops the lock when the process dies, so a
crash never leaves a data directory locked. The page starts the command as a process of its
own (`start_in_background`): in a session of its own, so that it outlives the browser tab and
the page's server, with its output in `models/training.log`; its Stop button sends SIGTERM,
which the command answers by ending training at once and finishing with what it has learnt.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from encoder import live
from ingest.errors import UserError
from ingest.settings import Settings
from ingest.store import embedded_store_exists

LOCK_NAME = "training.lock"
LOG_NAME = "training.log"
# How long a starting `ingest train` retries the lock: the page checks it with a shared lock
# of a few microseconds, which must not turn a training away.
ACQUIRE_WAIT_S = 2.0
STARTING_WAIT_S = 60.0  # how long the page waits for a started training to take the lock


class TrainingBusy(UserError):
    """Another `ingest train` runs on this data directory."""


def continue_state_path(models_dir: Path, collection: str) -> Path:
    """Where `ingest train` of `collection` keeps its training's state (progress file beside it),
    beside a load's (`training.state_path`). Named here: the page reads it without torch's training code."""
    return models_dir / "training" / f"{collection}.continue.pt"


def lock_path(models_dir: Path) -> Path:
    return models_dir / LOCK_NAME


def log_path(models_dir: Path) -> Path:
    return models_dir / LOG_NAME


def check_options(minutes: float | None, epochs: int | None) -> None:
    if minutes is not None and epochs is not None:
        raise UserError("--minutes and --epochs both say how long to train: give one of them")
    if minutes is not None and not minutes > 0:
        raise UserError(f"--minutes must be more than 0, got {minutes:g}: give the minutes training may take")
    if epochs is not None and epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {epochs}")


def take_lock(settings: Settings, collection: str, minutes: float | None, epochs: int | None) -> TrainingLock:
    """What `ingest train` does first, before it loads torch (seconds on a busy machine): check what
    needs neither the store nor the model, then take the lock, so that the page that started it
    sees it at once and a second training is refused at once."""
    check_options(minutes, epochs)
    if settings.embedded and not embedded_store_exists(settings):  # nothing here: nothing is created
        raise UserError(
            f"no collection {collection!r} in the {settings.describe_store()}: "
            f"fill it with `ingest load PATH.zip --collection {collection}`"
        )
    lock = TrainingLock(settings.models_dir)
    lock.acquire(collection=collection, started_at=live.now(), minutes=minutes, epochs=epochs)
    return lock


class TrainingLock:
    """Held by the `ingest train` that runs; `holder` tells anyone else who that is."""

    def __init__(self, models_dir: Path) -> None:
        self.path = lock_path(models_dir)
        self._fd: int | None = None

    def acquire(self, **facts) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + ACQUIRE_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise TrainingBusy(busy_message(holder(self.path.parent) or {})) from None
                time.sleep(0.1)
        self._fd = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), **facts}).encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.ftruncate(fd, 0)  # nobody holds it: no stale facts for a reader
            os.close(fd)

    def __enter__(self) -> TrainingLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def busy_message(facts: dict) -> str:
    who = f"pid {facts['pid']}, collection {facts.get('collection')!r}" if facts.get("pid") else "another process"
    since = f", since {facts['started_at']}" if facts.get("started_at") else ""
    return (
        f"a training is already running on this data directory ({who}{since}): "
        "wait for it to finish, or stop it (the page's Stop button, or `kill -TERM <pid>`)"
    )


def holder(models_dir: Path) -> dict | None:
    """Who runs `ingest train` here (pid, collection, ...), or None when nobody does."""
    path = lock_path(models_dir)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: read who holds it
            try:
                return json.loads(os.pread(fd, 4096, 0) or b"{}")
            except ValueError:  # being written this very moment
                return {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def start_in_background(settings: Settings, collection: str, minutes: float) -> int:
    """`ingest train --minutes N --collection C` as a process of its own; its pid. Waits until it
    holds the lock, so that the page shows it at once, or until it ended (a mistake it found is
    the last line of the log, raised here)."""
    if (held := holder(settings.models_dir)) is not None:
        raise TrainingBusy(busy_message(held))
    log = log_path(settings.models_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CBIR_HOME": str(settings.home)}
    command = [sys.executable, "-m", "ingest.cli", "train", "--minutes", f"{minutes:g}", "--collection", collection]
    with log.open("w") as out:
        process = subprocess.Popen(
            command,  # from the page's own folder: the code the page runs
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session: closing the page or its terminal does not end it
        )
    # Reaped when it ends, so that a finished training is not a zombie the page takes for alive.
    threading.Thread(target=process.wait, name="training-reaper", daemon=True).start()
    deadline = time.monotonic() + STARTING_WAIT_S
    while time.monotonic() < deadline:
        if holder(settings.models_dir) is not None:
            return process.pid
        if process.poll() is not None:
            lines = [line for line in log.read_text().splitlines() if line.strip()]
            raise UserError(lines[-1].removeprefix("error: ") if lines else "the training ended at once")
        time.sleep(0.1)
    return process.pid


def stop(models_dir: Path) -> bool:
    """Ask the running `ingest train` to finish now with what it has learnt (SIGTERM). False when
    none runs here, or it runs on another machine (a container beside the page's)."""
    facts = holder(models_dir)
    if not facts or facts.get("host") != socket.gethostname() or not facts.get("pid"):
        return False
    try:
        os.kill(int(facts["pid"]), signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def last_words(models_dir: Path, lines: int = 12) -> list[str]:
    """The end of the last background training's output, for the page."""
    try:
        text = log_path(models_dir).read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]
