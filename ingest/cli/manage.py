"""The commands that look after the stores and what they hold: migrate, sources, remove."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from ingest.cli.app import CollectionOpt, JsonOpt, app, say, store_for, user_errors
from ingest.errors import UserError
from ingest.settings import DEFAULT_COLLECTION, Settings
from ingest.store import collections as cols

if TYPE_CHECKING:
    from ingest.load.sync import Changes


@app.command()
@user_errors
def migrate(
    to: Annotated[
        str | None,
        typer.Option(
            help="Copy the embedded store's collections to the Qdrant server at this "
            "URL (QDRANT_API_KEY gives its key)."
        ),
    ] = None,
    collection: Annotated[
        list[str] | None,
        typer.Option("--collection", "-c", help="Only this collection (repeatable; default: every one)."),
    ] = None,
    shards: Annotated[int | None, typer.Option(min=1, help="With --to: shards of each collection (a cluster).")] = None,
    replicas: Annotated[int | None, typer.Option(min=1, help="With --to: replicas of each shard.")] = None,
    write_consistency: Annotated[
        int | None, typer.Option(min=1, help="With --to: replicas that must confirm a write.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy collections between stores, without re-embedding: from an earlier version's embedded
    store into this one, or (--to URL) from the embedded store to a Qdrant server or cluster."""
    from ingest.store import Layout
    from ingest.store.client import ClientStore
    from ingest.store.media_users import note_server
    from ingest.store.migrate import copy_collections, legacy_store, mark_migrated

    settings = Settings.from_env()
    embedded = Settings(settings.home)  # whatever QDRANT_URL says, this is about the embedded store
    started = time.perf_counter()
    if to is None:
        old = legacy_store(settings)
        if old is None:
            raise UserError(
                f"no store of an earlier version at {settings.legacy_store_dir}: nothing to migrate "
                "(to copy to a server, give --to URL)"
            )
        with ClientStore.local_mode(old) as source, store_for(embedded) as target:
            migration = copy_collections(source, target, collection)
            where = target.description
        mark_migrated(settings, migration)
    else:
        server = Settings(settings.home, to, settings.qdrant_api_key, settings.timeout_s)
        note_server(server)  # its points will use this data directory's media
        layout = Layout(shards, replicas, write_consistency)
        with store_for(embedded) as source, store_for(server) as target:
            migration = copy_collections(
                source, target, collection, layout=layout if any(vars(layout).values()) else None
            )
            where = target.description
    migration.seconds = time.perf_counter() - started
    if as_json:
        typer.echo(
            json.dumps(
                {"to": where, "collections": migration.collections, "seconds": round(migration.seconds, 3)}, indent=2
            )
        )
        return
    for alias, count in migration.collections.items():
        typer.echo(f"  {alias:<20} {count:>9,} points")
    typer.echo(f"copied {len(migration.collections)} collections to the {where} in {migration.seconds:.1f}s")
    if to:
        say(f"to use it: export QDRANT_URL={to}")


@app.command()
@user_errors
def sources(collection: CollectionOpt = DEFAULT_COLLECTION, as_json: JsonOpt = False) -> None:
    """The zips and folders a collection was filled from: photos, labels, first and last load."""
    from ingest.query.sources import format_sources, list_sources

    settings = Settings.from_env()
    with store_for(settings) as store:
        result = list_sources(store, cols.require(store, collection))
    typer.echo(json.dumps(result, indent=2) if as_json else format_sources(result))


PLACES_LISTED = 20


@app.command()
@user_errors
def remove(
    source: Annotated[
        str | None,
        typer.Option("--source", help="Every photo of this zip or folder: its path, or a name from `ingest sources`."),
    ] = None,
    path: Annotated[
        str | None,
        typer.Option(
            "--path", help="Every photo whose path matches this glob, e.g. 'holiday/*' (with --source: of it)."
        ),
    ] = None,
    collection: CollectionOpt = DEFAULT_COLLECTION,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first (for scripts).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Take photos out of a collection (and their media copies, when no other point uses them).
    Your files are never touched; a photo also found at a place that stays keeps that place."""
    from ingest.load.sync import apply, matching, plan
    from ingest.query.sources import resolve_source
    from ingest.store.media import MediaStore

    if source is None and path is None:
        raise UserError("say what to remove: --source NAME (see `ingest sources`), --path GLOB, or both")
    what = " and ".join(f"{name} {value!r}" for name, value in (("--source", source), ("--path", path)) if value)
    settings = Settings.from_env()
    media = MediaStore(settings.media_dir)
    with store_for(settings) as store:
        state = cols.require(store, collection)
        if source is not None:  # a path, or a base name, names the source as the points do
            source = resolve_source(store, state, source)
        gone = matching(source, path)
        physical = state.physical
        changes = plan(store, physical, gone)
        if not changes:
            raise UserError(f"no photo of collection {collection!r} matches {what}: `ingest sources` lists the sources")
        for line in _removal_lines(changes):
            say(line)
        if yes:
            done = apply(store, physical, changes, media, settings)
    if not yes:
        if not sys.stdin.isatty():
            raise UserError("nothing removed: there is no terminal to confirm on; add --yes to remove without asking")
        typer.confirm(f"Remove them from {collection!r}?", abort=True, err=True)
        with store_for(settings) as store:  # not held while the question waits: the page keeps working
            physical = cols.require(store, collection).physical
            changes = plan(store, physical, gone)  # what is there now, should a load have run meanwhile
            done = apply(store, physical, changes, media, settings)
    if as_json:
        gone_places = [d.place for d in changes.deleted]
        moved = [{"from": old, "to": new} for old, new in changes.moved]
        typer.echo(
            json.dumps(
                {"collection": collection, **done.to_json(removal=True), "removed_places": gone_places, "moves": moved},
                indent=2,
            )
        )
        return
    if done.media_kept_because:
        say(f"note: every media copy was kept: {done.media_kept_because}")
    copies = f", {done.dropped_copies:,} copies forgotten" if done.dropped_copies else ""
    typer.echo(
        f"removed {done.removed:,} photos from {collection!r}, moved {done.moved:,} to a place that stays{copies}; "
        f"{done.media_deleted:,} unused media copies deleted"
    )


def _removal_lines(changes: Changes) -> list[str]:
    """What will go, as the question before it shows it: the first places, then a count."""
    lines = [f"  remove {d.place.get('source')}:{d.place.get('path')}" for d in changes.deleted]
    lines += [
        f"  move   {old.get('source')}:{old.get('path')} -> {new.get('source')}:{new.get('path')}"
        for old, new in changes.moved
    ]
    lines += [f"  forget copy {c.get('source')}:{c.get('path')}" for c in changes.dropped_copies]
    head = (
        f"{len(changes.deleted):,} photos will be removed, {len(changes.moved):,} moved to a place that stays, "
        f"{len(changes.dropped_copies):,} copies forgotten:"
    )
    more = [f"  ... and {len(lines) - PLACES_LISTED:,} more"] if len(lines) > PLACES_LISTED else []
    return [head, *lines[:PLACES_LISTED], *more]
