"""The commands that look after the stores: migrate."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from ingest.cli.app import JsonOpt, app, say, store_for, user_errors
from ingest.errors import UserError
from ingest.settings import Settings


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
    as_json: JsonOpt = False,
) -> None:
    """Copy collections between stores, without re-embedding: from an earlier version's embedded
    store into this one, or (--to URL) from the embedded store to a Qdrant server."""
    from ingest.store.client import ClientStore
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
        with store_for(embedded) as source, store_for(server) as target:
            migration = copy_collections(source, target, collection)
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
