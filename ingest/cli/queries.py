"""The commands that read a collection: search, info, evaluate, outliers, duplicates."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ingest.cli.app import CollectionOpt, JsonOpt, app, printable, say, store_for, user_errors
from ingest.cli.narrowing import CameraOpt, NearOpt, TakenAfterOpt, TakenBeforeOpt
from ingest.errors import UserError
from ingest.settings import DEFAULT_COLLECTION, Settings
from ingest.store import collections as cols

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from ingest.query.search import Hit, Index


@app.command()
@user_errors
def search(
    images: Annotated[
        list[str],
        typer.Argument(
            help="The query image; several mean 'more like these'. A photo of the collection may be named by its id.",
            metavar="IMAGE...",
        ),
    ],
    negatives: Annotated[
        list[str] | None,
        typer.Option("--not", help="An image (or a stored photo's id) the results should not look like; repeatable."),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, max=1000, help="How many results.")] = 10,
    collection: CollectionOpt = DEFAULT_COLLECTION,
    label: Annotated[str | None, typer.Option(help="Only results with this label.")] = None,
    taken_after: TakenAfterOpt = None,
    taken_before: TakenBeforeOpt = None,
    camera: CameraOpt = None,
    near: NearOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[Path | None, typer.Option(help="Write a montage PNG: query, top-K, reconstructions.")] = None,
) -> None:
    """The K most similar images to IMAGE, by cosine similarity of their embeddings.

    With several images, or --not, Qdrant's recommendation query ranks the collection: close to
    one of the examples, and closer to them than to any --not image. Examples that are photos of
    the collection are then left out of the results (one image alone finds itself first)."""
    files = {given: _read_image(given) for given in [*images, *(negatives or [])] if not _is_point_id(given)}
    from ingest.query.montage import open_hits, search_montage  # after the files: a wrong path fails at once
    from ingest.query.narrowing import narrowed
    from ingest.query.search import Index
    from ingest.store.media import MediaStore

    settings = Settings.from_env()
    media = MediaStore(settings.media_dir)
    with store_for(settings) as store:
        index = Index.open(store, settings, collection)
        where = narrowed(store, index.physical, taken_after, taken_before, camera, near)
        positives = [_example(index, given, files) for given in images]
        against = [_example(index, given, files) for given in negatives or []]
        several = len(positives) > 1 or bool(against)
        exclude = [e.point_id for e in positives + against if e.point_id and (several or e.image is None)]
        hits = index.by_examples(
            [e.vector for e in positives], [e.vector for e in against], k, label, exclude=exclude, where=where
        )
        if out:
            first = positives[0]
            query: Image.Image | None
            if first.image is not None:
                query = first.image
            else:
                assert first.stored is not None  # an example is a file or a stored photo
                query = open_hits(media, [first.stored])[0]
            search_montage(index.embedder, media, query, hits, out)
    if as_json:
        typer.echo(json.dumps([h.to_json() for h in hits], indent=2))
        return
    for rank, hit in enumerate(hits, 1):
        place = printable(f"{hit.payload.get('source', '')}:{hit.path}")
        typer.echo(f"{rank:>3}  {hit.score:.4f}  {printable(hit.label or '-'):<12} {place}")
    if out:
        say(f"montage written to {out}")


@dataclass
class _Example:
    vector: np.ndarray
    point_id: str | None  # the collection's point with these bytes, if it holds one
    image: Image.Image | None = None  # a file's picture; None for a photo named by id
    stored: Hit | None = None


def _is_point_id(given: str) -> bool:
    """A UUID that is not the name of a file here: a photo of the collection, named by its id."""
    try:
        uuid.UUID(given)
    except ValueError:
        return False
    return not Path(given).exists()


def _read_image(given: str) -> tuple[Image.Image, str]:
    """A query file: its picture, and the SHA-256 of its bytes (its point id, when stored)."""
    from ingest.images import MAX_BYTES, ImageRejected
    from ingest.store.media import decode_picture

    path = Path(given)
    try:
        if not path.is_file():  # nor a folder, a named pipe (reading one waits forever) or a device
            raise FileNotFoundError(path)
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)  # the bytes decode() takes at most, whatever the file says
        return decode_picture(data).image, hashlib.sha256(data).hexdigest()
    except (FileNotFoundError, IsADirectoryError):
        raise UserError(f"{path} is not a file: give the path of an image, or the id of a stored photo") from None
    except ImageRejected as exc:
        raise UserError(f"{path} cannot be used as a query: {exc}") from None


def _example(index: Index, given: str, files: dict[str, tuple[Image.Image, str]]) -> _Example:
    from ingest.load.records import point_id

    if given in files:
        image, sha = files[given]
        stored = index.examples([point_id(sha)])
        return _Example(index.embed(image), next(iter(stored), None), image)
    found = index.examples([given]).get(given)
    if found is None:
        raise UserError(
            f"no photo with id {given} in collection {index.state.name!r}: give a file, or an id from --json"
        )
    hit, vector = found
    return _Example(vector, hit.id, None, hit)


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
    taken_after: TakenAfterOpt = None,
    taken_before: TakenBeforeOpt = None,
    camera: CameraOpt = None,
    near: NearOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Retrieval quality: precision@K and mAP@K, every labelled image querying all the others.

    The folder an image came from is its label; a neighbour is right when it has the query's
    label. The result is stored with the collection and shown by `ingest info` (unless the
    photos were narrowed by date, camera or place: then they query only among themselves).
    """
    from ingest.query.evaluate import evaluate as run_evaluate
    from ingest.query.evaluate import format_evaluation, store_evaluation
    from ingest.query.narrowing import narrowed

    settings = Settings.from_env()
    with store_for(settings) as store:
        state = cols.require(store, collection)
        where = narrowed(store, state.physical, taken_after, taken_before, camera, near)
        result = run_evaluate(store, state, k, where=where or None)
        if not where:
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
    keep: Annotated[
        str | None,
        typer.Option(help="Keep this file (source:path, or an id) of its group: the others become files to delete."),
    ] = None,
    not_duplicates: Annotated[
        list[str] | None,
        typer.Option(
            "--not-duplicates",
            metavar="FILE",
            help="Once: the file's whole group is not duplicates. Repeated: these files (a pair) are not.",
        ),
    ] = None,
    undo: Annotated[
        list[str] | None, typer.Option(metavar="FILE", help="Forget the decisions about this file; repeatable.")
    ] = None,
    reviewed: Annotated[bool, typer.Option("--reviewed", help="Also show the groups already decided.")] = False,
    to_delete: Annotated[
        bool, typer.Option("--to-delete", help="Print only the files the decisions leave to delete, one a line.")
    ] = False,
    taken_after: TakenAfterOpt = None,
    taken_before: TakenBeforeOpt = None,
    camera: CameraOpt = None,
    near: NearOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[Path | None, typer.Option(help="Write a montage PNG: one row per group.")] = None,
) -> None:
    """Groups of near-identical images (by their vectors), of byte-identical files, and bursts
    (one camera, a second or two apart). Decisions (--keep, --not-duplicates) are kept in the data
    directory: decided groups are hidden unless --reviewed, and only their files are to delete."""
    import time

    from ingest.query.decisions import DecisionBook, decide
    from ingest.query.duplicates import (
        duplicates_montage,
        format_duplicates,
        format_to_delete,
        neighbourhood,
        reviewed_groups,
    )
    from ingest.query.narrowing import narrowed
    from ingest.store.media import MediaStore

    started = time.perf_counter()
    settings = Settings.from_env()
    with store_for(settings) as store:
        state = cols.require(store, collection)
        where = narrowed(store, state.physical, taken_after, taken_before, camera, near) or None
        hood = neighbourhood(store, state, threshold, where)
    media, book = MediaStore(settings.media_dir), DecisionBook(settings.home, collection)
    if keep or not_duplicates or undo:
        everything = reviewed_groups(hood, state, book.read(), None, show_reviewed=True)["groups"]
        for line in decide(book, everything, keep, not_duplicates or [], undo or []):
            say(line)
    result = reviewed_groups(hood, state, book.read(), media, reviewed, where, started)
    if to_delete:
        listing = {"collection": collection, "threshold": threshold, "files": result["to_delete"]}
        typer.echo(json.dumps(listing, indent=2) if as_json else format_to_delete(result))
        return
    shown = duplicates_montage(media, result, out) if out and result["groups"] else 0
    typer.echo(json.dumps(result, indent=2) if as_json else format_duplicates(result))
    if out:
        more = f" (the first {shown} of {len(result['groups'])} groups)" if shown < len(result["groups"]) else ""
        say(f"montage written to {out}{more}" if shown else "no montage: no duplicates found")
