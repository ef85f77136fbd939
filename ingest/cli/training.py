"""`ingest train`: keep training a collection's model, then move the collection to it."""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Annotated

import typer

from ingest.cli.app import CollectionOpt, JsonOpt, app, say, user_errors
from ingest.cli.loading import SkipLines
from ingest.settings import DEFAULT_COLLECTION, Settings


class StopOnTerm:
    """SIGTERM (the page's Stop button, `kill`, a container stopping) ends training at once and
    the command finishes with what it has learnt; a second one interrupts it outright, as
    Ctrl-C does (the same command then goes on where it stopped)."""

    def __init__(self) -> None:
        self.asked = threading.Event()

    def __enter__(self) -> StopOnTerm:
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum, frame) -> None:
        if self.asked.is_set():
            raise KeyboardInterrupt
        self.asked.set()
        say("stopping: training ends now, and the collection moves to what it has learnt so far")

    def __call__(self) -> bool:
        return self.asked.is_set()


@app.command()
@user_errors
def train(
    minutes: Annotated[
        float | None,
        typer.Option(help="Train for about N minutes in all, re-embedding included (default: 10)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Train exactly N more epochs instead.")] = None,
    collection: CollectionOpt = DEFAULT_COLLECTION,
    as_json: JsonOpt = False,
) -> None:
    """Keep training the collection's model on the collection's own photos, then re-embed it.

    Training starts from the model's weights, on every photo the collection holds (read from
    the data directory's copies: the zips may be gone). Searches go on meanwhile and answer from
    the old model until the collection moves to the new one, in one step. Interrupted, the same
    command resumes. Prints held-out losses and, where folders give labels, P@10, before and after.
    """
    from ingest.load.training_job import take_lock

    settings = Settings.from_env()
    with StopOnTerm() as stop:
        lock = take_lock(settings, collection, minutes, epochs)  # before torch loads: the page sees it at once
        try:
            from ingest.load.continue_training import Stopped, TrainOptions, continue_training

            options = TrainOptions(collection=collection, minutes=minutes, epochs=epochs)
            report = continue_training(settings, options, say, SkipLines(sys.stderr.isatty()), stop, lock)
        except Stopped:
            say("stopped before training began: nothing changed")
            return
        finally:
            lock.release()
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    before, after = report.before, report.after
    stopped = ", stopped early" if report.stopped else ""
    typer.echo(
        f"collection {report.collection!r}: model {before.model_id} -> {after.model_id} "
        f"({report.epochs_run} more epoch{'s' * (report.epochs_run != 1)} on {report.trained_on:,} photos "
        f"in {report.train_seconds:.0f}s{stopped}), "
        f"{report.switched.re_embedded:,} photos re-embedded"
    )
    typer.echo(f"  {'':<22} {'before':>9} {'after':>9}")
    for name, old, new, digits in (
        ("epochs in all", before.epochs_total, after.epochs_total, 0),
        ("held-out loss", before.val_loss, after.val_loss, 4),
        ("held-out recon. MSE", before.val_recon, after.val_recon, 4),
        ("P@10 (ingest evaluate)", before.precision_at_10, after.precision_at_10, 3),
    ):
        typer.echo(f"  {name:<22} {_cell(old, digits):>9} {_cell(new, digits):>9}")
    if report.switched.added_meanwhile:
        typer.echo(f"  {report.switched.added_meanwhile:,} photos loaded meanwhile were embedded at the switch")
    for name in report.switched.kept_old_collections:
        typer.echo(f"  kept the old collection {name}: some of its photos have no stored copy")
    typer.echo(f"  time {report.seconds:.1f}s")


def _cell(value: float | int | None, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if digits == 0 else f"{value:.{digits}f}"
