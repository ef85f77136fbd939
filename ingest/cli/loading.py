"""`ingest load`: index a zip or a folder."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ingest.cli.app import CollectionOpt, JsonOpt, app, printable, say, user_errors
from ingest.errors import UserError
from ingest.settings import DEFAULT_COLLECTION, Settings

if TYPE_CHECKING:  # the CLI imports the load's modules only when it runs one
    from ingest.load.reader import Skipped

# On a terminal, the skipped files told one by one before the rest are only counted: a phone
# library's videos and edit files (.MOV, .AAE) are thousands of lines that would bury the progress.
TERMINAL_SKIP_LINES = 20


class SkipLines:
    """`skipped <path>: <reason>`, a line per file; on a terminal, the first TERMINAL_SKIP_LINES."""

    def __init__(self, terminal: bool) -> None:
        self.limit = TERMINAL_SKIP_LINES if terminal else None
        self.told = 0

    def __call__(self, skipped: Skipped) -> None:
        self.told += 1
        if self.limit is None or self.told <= self.limit:
            say(f"skipped {printable(skipped.path)}: {skipped.reason}")
        elif self.told == self.limit + 1:
            say("more skipped files are counted, not listed, here: `2> load.log` or --json lists every one")


def check_minutes(minutes: float | None, epochs: int | None) -> None:
    """--minutes and --epochs: a time or a number of epochs, not both; a time above zero."""
    if minutes is not None and epochs is not None:
        raise UserError("--minutes and --epochs both say how long to train: give one of them")
    if minutes is not None and not minutes > 0:
        raise UserError(f"--minutes must be more than 0, got {minutes:g}: give the minutes training may take")


def reasons_counted(skipped: list[Skipped]) -> str:
    """'not an image: 9,214; corrupt or truncated image: 3', the commonest first."""
    counts = Counter(entry.kind for entry in skipped)
    return "; ".join(f"{reason}: {n:,}" for reason, n in counts.most_common())


@app.command()
@user_errors
def load(
    path: Annotated[Path, typer.Argument(help="A .zip of images, or a folder of them.")],
    collection: CollectionOpt = DEFAULT_COLLECTION,
    epochs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Train exactly N epochs (default: as many as fit in the time budget).",
        ),
    ] = None,
    minutes: Annotated[
        float | None,
        typer.Option(
            help="When the load trains a model: end the whole load within about N minutes "
            "(default 9.5); more minutes, more epochs, better results (README).",
        ),
    ] = None,
    retrain: Annotated[
        bool, typer.Option(help="Train a new model on PATH and re-embed the whole collection with it.")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            help="Fill a new collection with this trained model (an id from `ingest info`) instead of training one."
        ),
    ] = None,
    start_from: Annotated[
        str | None,
        typer.Option(
            help="Train the collection's new model starting from this one (a collection's name, or a model id "
            "from `ingest info`): a few hundred photos are learnt better from a model trained on thousands."
        ),
    ] = None,
    image_size: Annotated[
        int | None,
        typer.Option(
            help="Model input side in pixels when training (32, 48, 64, 96 or 128; default: chosen from the photos)."
        ),
    ] = None,
    shards: Annotated[int | None, typer.Option(min=1, help="Shards of a new collection (Qdrant cluster).")] = None,
    replicas: Annotated[int | None, typer.Option(min=1, help="Replicas of each shard (Qdrant cluster).")] = None,
    write_consistency: Annotated[int | None, typer.Option(min=1, help="Replicas that must confirm a write.")] = None,
    prune: Annotated[
        bool,
        typer.Option(
            help="Afterwards, forget the photos of PATH whose file is gone (a photo moved within PATH, "
            "or also found in another source, keeps that place). Your files are never touched."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Index the images of a zip (or folder) into a collection, training a model first if it has none."""
    from encoder import live
    from encoder.recipe import SIDES
    from ingest.load.pipeline import LoadOptions
    from ingest.load.pipeline import load as run_load
    from ingest.load.training import state_path
    from ingest.store import Layout

    if image_size is not None and image_size not in SIDES:
        raise UserError(f"--image-size must be one of {', '.join(map(str, SIDES))}, got {image_size}")
    check_minutes(minutes, epochs)
    settings = Settings.from_env()
    options = LoadOptions(
        collection=collection,
        epochs=epochs,
        minutes=minutes,
        retrain=retrain,
        model_id=model,
        start_from=start_from,
        image_size=image_size,
        layout=Layout(shards, replicas, write_consistency),
        prune=prune,
    )
    # The page shows a load under way (its training's epochs) from this file (`encoder.live`).
    progress_file = live.progress_path(state_path(settings.models_dir, collection))
    with live.job(progress_file, "load", collection, phase=f"loading {path.name}"):
        report = run_load(path, settings, options, on_skip=SkipLines(sys.stderr.isatty()), notify=say)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    trained = f", trained it in {report.train_seconds:.0f}s" if report.trained else ""
    typer.echo(f"collection {report.collection!r} ({settings.describe_store()}), model {report.model_id}{trained}")
    typer.echo(f"  indexed          {report.indexed:,}")
    copies = f" ({len(report.copies)} new copies recorded)" if report.copies else ""
    typer.echo(f"  already present  {report.already_present:,}{copies}")
    if report.exif_filled:
        typer.echo(
            f"  dates, cameras   {report.exif_filled:,} photos loaded before given theirs from EXIF (not re-embedded)"
        )
    if report.re_embedded:
        typer.echo(f"  re-embedded      {report.re_embedded:,} (from the previous model's collection)")
    reasons = f" ({reasons_counted(report.skipped)})" if report.skipped else ""
    typer.echo(f"  skipped          {len(report.skipped):,}{reasons}")
    if report.sync:
        synced = report.sync
        copies = f", {synced.dropped_copies:,} copies forgotten" if synced.dropped_copies else ""
        media = f"; {synced.media_deleted:,} unused media copies deleted" if synced.media_deleted else ""
        typer.echo(
            f"  sync             added {synced.added:,}, moved {synced.moved:,}, removed {synced.removed:,}{copies} "
            f"(files gone from {path.resolve().name}{media})"
        )
    indexing = f" (of which {report.index_seconds:.1f}s building the search index)" if report.index_seconds else ""
    typer.echo(f"  time             {report.seconds:.1f}s{indexing}")
