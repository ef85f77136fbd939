"""The life of `ingest watch`: open the collection (or fill it first), catch up with what changed
while nothing watched, then a pass after every quiet moment that follows a change, until stopped.

A collection with no model yet is filled by a load of the folder (`ingest load FOLDER`, its model
trained on the photos) once the folder holds files and has been quiet for FIRST_LOAD_QUIET_S: an
import under way is not trained on half-done. A collection rebuilt by `--retrain` while watched is
opened again with its new model. A store held too long by another process (a load) makes the pass
wait and try again; nothing is lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ingest.errors import UserError
from ingest.load.reader import Source
from ingest.settings import Settings
from ingest.store import StoreBusy
from ingest.watch.folder import scan
from ingest.watch.trigger import Trigger
from ingest.watch.watcher import SETTLE_S, Change, CollectionMoved, Watcher

QUIET_S = 1.0  # after the last event, the folder must be this quiet before a pass
LONGEST_WAIT_S = 30.0  # ... unless events keep coming this long: a long copy is taken in batches
RESCAN_S = 600.0  # a pass at least this often, events or not: what a lost event missed is found
FIRST_LOAD_QUIET_S = 10.0
BUSY_RETRY_S = 5.0


def watch(
    folder: Path,
    settings: Settings,
    collection: str,
    tell: Callable[[Change], None],
    say: Callable[[str], None],
    stop: threading.Event,
    poll_s: float | None = None,
    epochs: int | None = None,
    show_progress: bool = False,
) -> None:
    """Runs until `stop` is set (SIGTERM, Ctrl-C); returns after the pass under way is written."""
    if Source(folder).kind != "folder":  # a wrong path fails here, in one line
        raise UserError(f"{folder} is a zip: `ingest watch` keeps a folder in step; load a zip with `ingest load`")
    trigger = Trigger(folder.resolve(), poll_s)
    trigger.start()
    try:
        while not stop.is_set():
            watcher = Watcher(folder, settings, collection, tell)
            if not _opened(watcher, trigger, stop, say, epochs, show_progress):
                return
            how = f"every {poll_s:g} s" if poll_s else "file-system events"
            say(
                f"watching {watcher.folder} for collection {collection!r} ({how}): {len(watcher.ids):,} photos, "
                f"{len(watcher.known):,} files of this folder known"
            )
            try:
                _follow(watcher, trigger, stop, say)
            except CollectionMoved:
                say(f"collection {collection!r} was rebuilt with another model: opening it again")
    finally:
        trigger.stop()


def _follow(watcher: Watcher, trigger: Trigger, stop: threading.Event, say: Callable[[str], None]) -> None:
    waiting = True  # the first pass: what changed while nothing watched
    while not stop.is_set():
        try:
            waiting = watcher.sync(trigger.being_written, stop)
        except StoreBusy as exc:
            say(f"{exc}: trying again in {BUSY_RETRY_S:g} s")
            waiting = not stop.wait(BUSY_RETRY_S)
            continue
        if trigger.wait(SETTLE_S if waiting else RESCAN_S, stop):
            trigger.quiet(QUIET_S, LONGEST_WAIT_S, stop)


def _opened(
    watcher: Watcher,
    trigger: Trigger,
    stop: threading.Event,
    say: Callable[[str], None],
    epochs: int | None,
    show_progress: bool,
) -> bool:
    """The collection opened; one with no model is filled by a load of the folder first."""
    from ingest.load.pipeline import LoadOptions, load

    while not stop.is_set():
        if watcher.open():
            return True
        if scan(watcher.folder):
            say(f"collection {watcher.collection!r} has no model yet: loading {watcher.folder} first (training one)")
            try:
                options = LoadOptions(collection=watcher.collection, epochs=epochs, show_progress=show_progress)
                load(
                    watcher.folder,
                    watcher.settings,
                    options,
                    on_skip=lambda s: say(f"skipped {s.path}: {s.reason}"),
                    notify=say,
                )
                continue
            except UserError as exc:  # no usable photo yet: wait for the folder to change
                say(f"not loaded yet: {exc}")
        say(f"waiting for photos in {watcher.folder}")
        if trigger.wait(RESCAN_S, stop):
            trigger.quiet(FIRST_LOAD_QUIET_S, RESCAN_S, stop)
    return False
