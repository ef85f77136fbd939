"""`ingest watch`: keep a collection in step with a folder while it runs."""

from __future__ import annotations

import json
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ingest.cli.app import CollectionOpt, JsonOpt, app, say, user_errors
from ingest.settings import DEFAULT_COLLECTION, Settings

if TYPE_CHECKING:
    from ingest.watch.watcher import Change


def change_line(change: Change) -> str:
    """`added    2024/IMG_0001.jpg`: a line per change, as a log reads well."""
    detail = change.detail
    if change.kind == "skipped":
        return f"skipped  {change.path}: {detail}"
    if change.kind == "synced":
        return f"synced   {detail}"
    if change.kind == "moved":
        return f"moved    {change.path} {detail}"
    return f"{change.kind:<8} {change.path}" + (f" ({detail})" if detail else "")


@app.command()
@user_errors
def watch(
    folder: Annotated[Path, typer.Argument(help="The folder to keep the collection in step with.")],
    collection: CollectionOpt = DEFAULT_COLLECTION,
    poll: Annotated[
        float | None,
        typer.Option(
            min=0.5,
            metavar="SECONDS",
            help="Look at the folder every SECONDS instead of waiting for file-system events (a network share, "
            "or a container whose folder's events do not arrive).",
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="A new collection's model: train exactly N epochs (as `ingest load`).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Keep a collection in step with FOLDER while this runs: new and changed photos are loaded
    with the collection's model, deleted ones forgotten, moved ones followed; a line per change.
    A collection with no model yet is loaded from FOLDER first. Stops cleanly on Ctrl-C or SIGTERM."""
    stop = threading.Event()

    def stopping(signum, frame) -> None:
        if not stop.is_set():
            say("stopping: the files under way are written first")
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)

    def tell(change: Change) -> None:
        if change.kind == "waiting":
            say(f"waiting: {change.detail}")
            return
        print(json.dumps(asdict(change)) if as_json else change_line(change), flush=True)

    from ingest.watch.run import watch as run_watch  # after the handlers: it loads torch, seconds

    run_watch(folder, Settings.from_env(), collection, tell, say, stop, poll, epochs, sys.stderr.isatty())
    say("stopped")
