"""`ingest`: the command line. Thin: parse, call the pipeline or the index, print.

A user's mistake prints one line, `error: <what is wrong>: <what to do>`, and exits 2.
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from ingest import store
from ingest.errors import UserError
from ingest.settings import DEFAULT_COLLECTION, Settings

app = typer.Typer(
    help="Search animal photos by content: train an autoencoder, index a zip into Qdrant, query it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CollectionOpt = Annotated[str, typer.Option("--collection", "-c", help="Collection name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def say(message: str) -> None:
    typer.echo(message, err=True)


READ_WAIT_S = 15.0  # the page lets go of the embedded store 10 s after its last use


def open_store(settings: Settings):
    """The store, waiting a little for the embedded one when the page (or a load) holds it."""
    waiting = f"waiting up to {READ_WAIT_S:.0f}s for the embedded store, held by another process (the page?)"
    return store.open_store(settings, wait_s=READ_WAIT_S, on_wait=lambda: say(waiting))


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    say(f"warning: {message}")


def user_errors(command):
    """UserError -> one line and exit 2; Ctrl-C -> a line saying the collection is intact."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        warnings.showwarning = _warning_line
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            say(f"error: {exc}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            say("interrupted: what was written is consistent; run the same command again to finish")
            raise typer.Exit(130) from None

    return wrapper


@app.command()
@user_errors
def load(
    path: Annotated[Path, typer.Argument(help="A .zip of images, or a folder of them.")],
    collection: CollectionOpt = DEFAULT_COLLECTION,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Train exactly N epochs (default: as many as fit in 9 minutes, at most 100; stops early on a plateau).")] = None,
    retrain: Annotated[bool, typer.Option(help="Train a new model on PATH and re-embed the whole collection with it.")] = False,
    model: Annotated[Optional[str], typer.Option(help="Fill a new collection with this trained model (an id from `ingest info`) instead of training one.")] = None,
    image_size: Annotated[int, typer.Option(help="Model input side in pixels when training (power of two).")] = 32,
    shards: Annotated[Optional[int], typer.Option(min=1, help="Shards of a new collection (Qdrant cluster).")] = None,
    replicas: Annotated[Optional[int], typer.Option(min=1, help="Replicas of each shard (Qdrant cluster).")] = None,
    write_consistency: Annotated[Optional[int], typer.Option(min=1, help="Replicas that must confirm a write.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Index the images of a zip (or folder) into a collection, training a model first if it has none."""
    from ingest.pipeline import LoadOptions, load as run_load

    if image_size < 8 or image_size & (image_size - 1):
        raise UserError(f"--image-size must be a power of two >= 8, got {image_size}")
    settings = Settings.from_env()
    options = LoadOptions(
        collection=collection,
        epochs=epochs,
        retrain=retrain,
        model_id=model,
        image_size=image_size,
        shards=shards,
        replicas=replicas,
        write_consistency=write_consistency,
    )
    report = run_load(path, settings, options, on_skip=lambda s: say(f"skipped {s.path}: {s.reason}"), notify=say)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    trained = f", trained it in {report.train_seconds:.0f}s" if report.trained else ""
    typer.echo(f"collection {report.collection!r} ({settings.describe_store()}), model {report.model_id}{trained}")
    typer.echo(f"  indexed          {report.indexed:,}")
    typer.echo(f"  already present  {report.present:,}" + (f" ({len(report.copies)} new copies recorded)" if report.copies else ""))
    if report.carried:
        typer.echo(f"  re-embedded      {report.carried:,} (from the previous model's collection)")
    typer.echo(f"  skipped          {len(report.skipped):,}" + (" (reasons above)" if report.skipped else ""))
    typer.echo(f"  time             {report.seconds:.1f}s")


@app.command()
@user_errors
def search(
    image: Annotated[Path, typer.Argument(help="The query image.")],
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, max=1000, help="How many results.")] = 10,
    collection: CollectionOpt = DEFAULT_COLLECTION,
    label: Annotated[Optional[str], typer.Option(help="Only results with this label.")] = None,
    as_json: JsonOpt = False,
    out: Annotated[Optional[Path], typer.Option(help="Write a montage PNG: query, top-K, reconstructions.")] = None,
) -> None:
    """The K most similar images to IMAGE, by cosine similarity of their embeddings."""
    from ingest.images import ImageRejected, decode
    from ingest.media import MediaStore
    from ingest.montage import search_montage
    from ingest.search import Index

    settings = Settings.from_env()
    try:
        query = decode(image.read_bytes()).image
    except (FileNotFoundError, IsADirectoryError):
        raise UserError(f"{image} is not a file: give the path of an image") from None
    except ImageRejected as exc:
        raise UserError(f"{image} cannot be used as a query: {exc}") from None
    with open_store(settings) as client:
        index = Index.open(client, settings, collection)
        hits = index.by_image(query, k, label)
        if out:
            search_montage(index.embedder, MediaStore(settings.media_dir), query, hits, out)
    if as_json:
        typer.echo(json.dumps([h.to_json() for h in hits], indent=2))
        return
    for rank, hit in enumerate(hits, 1):
        typer.echo(f"{rank:>3}  {hit.score:.4f}  {hit.label or '-':<12} {hit.payload.get('source', '')}:{hit.path}")
    if out:
        say(f"montage written to {out}")


@app.command()
@user_errors
def info(collection: CollectionOpt = DEFAULT_COLLECTION, as_json: JsonOpt = False) -> None:
    """What a collection holds: points, labels, its model, where its pictures are."""
    from ingest.report import collection_info, format_info

    settings = Settings.from_env()
    with open_store(settings) as client:
        facts = collection_info(client, settings, collection)
    typer.echo(json.dumps(facts, indent=2) if as_json else format_info(facts))


@app.command()
@user_errors
def evaluate(
    collection: CollectionOpt = DEFAULT_COLLECTION,
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, max=1000, help="How many neighbours each query judges.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Retrieval quality: precision@K and mAP@K, every labelled image querying all the others.

    The folder an image came from is its label; a neighbour is right when it has the query's
    label. The result is stored with the collection and shown by `ingest info`.
    """
    from ingest.evaluate import evaluate as run_evaluate, format_evaluation, store_evaluation

    settings = Settings.from_env()
    with open_store(settings) as client:
        state = store.require(client, settings, collection)
        result = run_evaluate(client, state, k)
        store_evaluation(client, state, result)
    typer.echo(json.dumps(result, indent=2) if as_json else format_evaluation(result))


@app.command()
@user_errors
def outliers(
    n: Annotated[int, typer.Option("-n", "--count", min=1, max=10_000, help="How many images.")] = 20,
    collection: CollectionOpt = DEFAULT_COLLECTION,
    as_json: JsonOpt = False,
    out: Annotated[Optional[Path], typer.Option(help="Write a montage PNG of them, worst first.")] = None,
) -> None:
    """The images the model reconstructs worst: corrupt crops, non-animals, mislabelled files."""
    from ingest.media import MediaStore
    from ingest.outliers import find_outliers, format_outliers, outliers_montage

    settings = Settings.from_env()
    with open_store(settings) as client:
        result = find_outliers(client, store.require(client, settings, collection), n)
    if out and result["outliers"]:
        outliers_montage(MediaStore(settings.media_dir), result, out)
    typer.echo(json.dumps(result, indent=2) if as_json else format_outliers(result))
    if out:
        say(f"montage written to {out}" if result["outliers"] else "no montage: no images to show")


@app.command()
@user_errors
def duplicates(
    threshold: Annotated[float, typer.Option(min=-1.0, max=1.0, help="Cosine similarity above which two images count as the same picture.")] = 0.98,
    collection: CollectionOpt = DEFAULT_COLLECTION,
    as_json: JsonOpt = False,
    out: Annotated[Optional[Path], typer.Option(help="Write a montage PNG: one row per group.")] = None,
) -> None:
    """Groups of near-identical images (by their vectors) and of byte-identical files."""
    from ingest.duplicates import duplicates_montage, find_duplicates, format_duplicates
    from ingest.media import MediaStore

    settings = Settings.from_env()
    with open_store(settings) as client:
        result = find_duplicates(client, store.require(client, settings, collection), threshold)
    shown = duplicates_montage(MediaStore(settings.media_dir), result, out) if out and result["groups"] else 0
    typer.echo(json.dumps(result, indent=2) if as_json else format_duplicates(result))
    if out:
        more = f" (the first {shown} of {len(result['groups'])} groups)" if shown < len(result["groups"]) else ""
        say(f"montage written to {out}{more}" if shown else "no montage: no duplicates found")


def main() -> None:  # python -m ingest.cli
    app(prog_name="ingest")


if __name__ == "__main__":
    sys.exit(main())
