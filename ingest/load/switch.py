"""Moving a collection to a new model while it is being searched.

Every photo is embedded by the new model from its media copy before the store is touched
(`stored_photos`), so the embedded store, which one process at a time may open, is held only to
write: the new physical collection is filled, indexed, and the alias moved to it in one step.
Until then every search answers from the old model; from then on, from the new one. Photos
loaded in the meantime are embedded during the write, and photos removed in the meantime stay
removed: the old collection as it is at the switch decides what the new one holds.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field

from encoder.embed import Embedder
from ingest.errors import UserError
from ingest.load.batches import embed_into
from ingest.load.reader import Skipped
from ingest.load.stored_photos import Embedded, Snapshot, records, snapshot
from ingest.progress import progress
from ingest.store import Point, Store
from ingest.store import collections as cols
from ingest.store.media import MediaStore

UPSERT_BATCH = 1024


@dataclass
class Switched:
    # Named as in `ingest train --json`.
    physical_collection: str  # the collection the alias names now
    re_embedded: int  # points written into it
    added_meanwhile: int = 0  # photos loaded after the re-embedding began, embedded at the switch
    kept_old_collections: list[str] = field(default_factory=list)  # old collections kept: photos without a copy


def embed_all(
    photos: Snapshot,
    media: MediaStore,
    embedder: Embedder,
    on_skip: Callable[[Skipped], None],
    show_progress: bool,
    into: Embedded | None = None,
) -> Embedded:
    """Every photo's vector by `embedder`, from its media copy; no store is needed."""
    into = into or Embedded()
    into.tried.update(photos.ids)
    with closing(records(photos, media, on_skip, show_progress)) as stored:
        embed_into(stored, embedder, into)
    return into


def switch(
    store: Store,
    collection: str,
    parent_model_id: str,
    embedder: Embedder,
    embedded: Embedded,
    media: MediaStore,
    on_skip: Callable[[Skipped], None],
    show_progress: bool,
) -> Switched:
    """Fill `collection`'s new physical collection with the embedded vectors (each point keeping
    its payload, with the new model id and reconstruction error), index it, and move the alias."""
    state = cols.require(store, collection)
    if state.model_id != parent_model_id:
        raise UserError(
            f"collection {collection!r} was moved to model {state.model_id} while this training continued "
            f"model {parent_model_id}: the new model {embedder.model_id} is kept in the models folder; "
            "run `ingest train` again to continue the collection's current model"
        )
    physical = cols.physical_name(collection, embedder.model_id)
    if store.exists(physical) and physical not in store.aliases().values():
        store.delete_collection(physical)  # half written by a switch that was interrupted: start it afresh
    physical = cols.create(store, collection, embedder.model_id, embedder.dim, like=state.physical)
    now = snapshot(store, state.physical)
    meanwhile = Snapshot(now.physical, *_unseen(now, embedded))
    if meanwhile.ids:  # loaded while the model trained: few, embedded now
        embed_all(meanwhile, media, embedder, on_skip, show_progress, embedded)
    points = [
        Point(point_id, embedded.vectors[point_id][0], _payload(payload, embedder.model_id, embedded, point_id))
        for point_id, payload in zip(now.ids, now.payloads)
        if point_id in embedded.vectors
    ]
    with progress(f"writing {collection} with model {embedder.model_id}", len(points), show_progress) as bar:
        for start in range(0, len(points), UPSERT_BATCH):
            store.upsert(physical, points[start : start + UPSERT_BATCH])
            bar.advance(len(points[start : start + UPSERT_BATCH]))
    with progress(f"indexing {collection} for fast search", None, show_progress):
        store.build_index(physical)
    store.set_alias(collection, physical)
    kept = cols.retire(store, collection, physical, state.physical, len(points) == len(now))
    return Switched(physical, len(points), len(meanwhile), kept)


def _unseen(now: Snapshot, embedded: Embedded) -> tuple[list[str], list[dict]]:
    pairs = [(i, p) for i, p in zip(now.ids, now.payloads) if i not in embedded.tried]
    return [i for i, _ in pairs], [p for _, p in pairs]


def _payload(payload: dict, model_id: str, embedded: Embedded, point_id: str) -> dict:
    """The point's payload as it is (its places, copies, when it was loaded), by the new model."""
    return {**payload, "model_id": model_id, "recon_error": embedded.vectors[point_id][1]}
