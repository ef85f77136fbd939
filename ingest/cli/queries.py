"""The commands that read a collection: search, info, evaluate, outliers, duplicates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ingest.cli.app import CollectionOpt, JsonOpt, app, say, store_for, user_errors
from ingest.errors import UserError
from ingest.settings import DEFAULT_COLLECTION, Settings
from ingest.store import collections as cols


@app.command()
@user_errors
def search(
    image: Annotated[Path, typer.Argument(help="The query image.")],
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, max=1000, help="How many results.")] = 10,
    collection: CollectionOpt = DEFAULT_COLLECTION,
    label: Annotated[str | None, typer.Option(help="Only results with this label.")] = None,
    as_json: JsonOpt = False,
    out: Annotated[Path | None, typer.Option(help="Write a montage PNG: query, top-K, reconstructions.")] = None,
) -> None:
    """The K most similar images to IMAGE, by cosine similarity of their embeddings."""
    from ingest.images import ImageRejected, decode
    from ingest.query.montage import search_montage
    from ingest.query.search import Index
    from ingest.store.media import MediaStore

    settings = Settings.from_env()
    try:
        query = decode(image.read_bytes()).image
    except (FileNotFoundError, IsADirectoryError):
        raise UserError(f"{image} is not a file: give the path of an image") from None
    except ImageRejected as exc:
        raise UserError(f"{image} cannot be used as a query: {exc}") from None
    with store_for(settings) as store:
        index = Index.open(store, settings, collection)
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
    from ingest.query.report import collection_info, format_info

    settings = Settings.from_env()
    with store_for(settings) as store:
        facts = collection_info(store, settings, collection)
    typer.echo(json.dumps(facts, indent=2) if as_json else format_info(facts))


@app.command()
@user_errors
def evaluate(
    collection: CollectionOpt = DEFAULT_COLLECTION,
    k: Annotated[
        int, typer.Option("-k", "--top-k", min=1, max=1000, help="How many neighbours each query judges.")
    ] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Retrieval quality: precision@K and mAP@K, every labelled image querying all the others.

    The folder an image came from is its label; a neighbour is right when it has the query's
    label. The result is stored with the collection and shown by `ingest info`.
    """
    from ingest.query.evaluate import evaluate as run_evaluate
    from ingest.query.evaluate import format_evaluation, store_evaluation

    settings = Settings.from_env()
    with store_for(settings) as store:
        state = cols.require(store, collection)
        result = run_evaluate(store, state, k)
        store_evaluation(store, state, result)
    typer.echo(json.dumps(result, indent=2) if as_json else format_evaluation(result))


@app.command()
@user_errors
def outliers(
    n: Annotated[int, typer.Option("-n", "--count", min=1, max=10_000, help="How many images.")] = 20,
    collection: CollectionOpt = DEFAULT_COLLECTION,
    as_json: JsonOpt = False,
    out: Annotated[Path | None, typer.Option(help="Write a montage PNG of them, worst first.")] = None,
) -> None:
    """The images the model reconstructs worst: corrupt crops, non-animals, mislabelled files."""
    from ingest.query.outliers import find_outliers, format_outliers, outliers_montage
    from ingest.store.media import MediaStore

    settings = Settings.from_env()
    with store_for(settings) as store:
        result = find_outliers(store, cols.require(store, collection), n)
    if out and result["outliers"]:
        outliers_montage(MediaStore(settings.media_dir), result, out)
    typer.echo(json.dumps(result, indent=2) if as_json else format_outliers(result))
    if out:
        say(f"montage written to {out}" if result["outliers"] else "no montage: no images to show")


@app.command()
@user_errors
def duplicates(
    threshold: Annotated[
        float,
        typer.Option(min=-1.0, max=1.0, help="Cosine similarity above which two images count as the same picture."),
    ] = 0.98,
    collection: CollectionOpt = DEFAULT_COLLECTION,
    as_json: JsonOpt = False,
    out: Annotated[Path | None, typer.Option(help="Write a montage PNG: one row per group.")] = None,
) -> None:
    """Groups of near-identical images (by their vectors) and of byte-identical files."""
    from ingest.query.duplicates import duplicates_montage, find_duplicates, format_duplicates
    from ingest.store.media import MediaStore

    settings = Settings.from_env()
    with store_for(settings) as store:
        result = find_duplicates(store, cols.require(store, collection), threshold)
    shown = duplicates_montage(MediaStore(settings.media_dir), result, out) if out and result["groups"] else 0
    typer.echo(json.dumps(result, indent=2) if as_json else format_duplicates(result))
    if out:
        more = f" (the first {shown} of {len(result['groups'])} groups)" if shown < len(result["groups"]) else ""
        say(f"montage written to {out}{more}" if shown else "no montage: no duplicates found")
