"""`ingest migrate`: copy collections from one store to another without re-embedding: every
point with its vector and payload, the collection's metadata (model id, last evaluation) and
the alias users call it by.

Two trips: from the embedded store of earlier versions (qdrant-client's local mode, in
`CBIR_HOME/qdrant`) into Qdrant Edge, and from the embedded store to a Qdrant server or
cluster when a collection outgrows one machine. The source is only read: nothing is lost if
the copy stops half way, and running it again completes it (points are upserted by id).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.errors import UserError
from ingest.progress import progress
from ingest.settings import Settings
from ingest.store.base import Layout, Point, Store

BATCH = 512
MARKER = "migrated-from-local-mode.json"  # in the new store's folder: the old one is never touched


@dataclass
class Migration:
    collections: dict[str, int] = field(default_factory=dict)  # alias -> points copied
    seconds: float = 0.0


def legacy_store(settings: Settings) -> Path | None:
    """The local-mode store of an earlier version, when there is one here."""
    folder = settings.legacy_store_dir
    return folder if (folder / "meta.json").is_file() else None


def legacy_notice(settings: Settings) -> str | None:
    """One line for the first commands that meet an earlier version's store, until it is copied."""
    folder = legacy_store(settings)
    if not settings.embedded or folder is None or (settings.store_dir / MARKER).exists():
        return None
    return (
        f"{folder} holds collections made by an earlier version (qdrant-client's local mode): "
        "run `ingest migrate` to copy them into the embedded Qdrant Edge store (nothing is re-embedded or deleted)"
    )


def copy_collections(
    source: Store,
    target: Store,
    aliases: Sequence[str] | None = None,
    show_progress: bool = True,
    layout: Layout | None = None,
) -> Migration:
    """Copy the named aliases (default: all) with the collections they name; `layout` spreads
    them over a cluster (default: as the source has them)."""
    found = source.aliases()
    wanted = list(found) if aliases is None else list(aliases)
    missing = [a for a in wanted if a not in found]
    if missing:
        here = ", ".join(sorted(found)) or "none"
        raise UserError(
            f"no collection {', '.join(map(repr, missing))} in the {source.description} (collections: {here})"
        )
    migration = Migration()
    for alias in wanted:
        physical = found[alias]
        migration.collections[alias] = copy_collection(source, target, physical, show_progress, layout)
        target.set_alias(alias, physical)
    return migration


def copy_collection(source: Store, target: Store, physical: str, show_progress: bool, layout: Layout | None) -> int:
    total = source.count(physical)
    if not target.exists(physical):
        layout = layout or source.layout(physical)
        target.create_collection(physical, source.dimension(physical), source.metadata(physical), layout)
    copied, batch = 0, []
    with progress(f"copying {physical}", total, show_progress) as bar:
        for record in source.points(physical, vectors=True):
            assert record.vector is not None  # asked for with vectors=True
            batch.append(Point(record.id, record.vector, record.payload))
            if len(batch) == BATCH:
                copied += _flush(target, physical, batch, bar)
        copied += _flush(target, physical, batch, bar)
    if total and target.count(physical) < total:
        raise UserError(
            f"copied {copied:,} of {total:,} points of {physical}, but the target holds fewer: run it again"
        )
    target.update_metadata(physical, source.metadata(physical))
    target.build_index(physical)  # as a load would have: a big embedded collection gets its HNSW graph
    return copied


def _flush(target: Store, physical: str, batch: list[Point], bar) -> int:
    count = len(batch)
    if batch:
        target.upsert(physical, batch)
        bar.advance(count)
        batch.clear()
    return count


def mark_migrated(settings: Settings, migration: Migration) -> None:
    record = {
        "from": str(settings.legacy_store_dir),
        "collections": migration.collections,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (settings.store_dir / MARKER).write_text(json.dumps(record, indent=1) + "\n")
