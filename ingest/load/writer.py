"""Writing embedded photos into the store on a background thread, so that the store's write
time overlaps the next batch's decoding and embedding instead of adding to it.

All store calls of a load happen on this one thread, in submission order, so a batch sees
every earlier batch's points: a photo met twice is stored once, and the second place it was
found is recorded in the point's `copies`. A stored point that lacks the EXIF facts (loaded
before they were read) gets them from its file when a load meets it again: no re-embedding.

Earlier versions named a source by its base name (`DCIM`), now by its full path: a place
written that way is renamed when a load meets the same file at the same path again.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ingest.load.records import ImageRecord, now
from ingest.store import Point, Store


@dataclass
class WriteCounts:
    indexed: int = 0  # new points
    already_present: int = 0  # already in the collection (same bytes)
    copies: list[tuple[str, str]] = field(default_factory=list)  # (path, path of the stored original)
    renamed: int = 0  # places that named this source by its base name, now by its full path
    exif_filled: int = 0  # stored points given the EXIF facts they lacked


class StoreWriter:
    def __init__(self, store: Store, collection: str, model_id: str, max_pending: int = 2) -> None:
        self.store, self.collection, self.model_id = store, collection, model_id
        self.counts = WriteCounts()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._pending: list[Future] = []
        self._max_pending = max_pending

    def submit(self, records: list[ImageRecord], vectors: np.ndarray, recon_errors: np.ndarray) -> None:
        """Queue a batch; blocks while max_pending batches are still being written, so memory
        stays bounded when the store is the slower side. Re-raises a failed write."""
        while len(self._pending) >= self._max_pending:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._write, records, vectors, recon_errors))

    def split_stored(self, records: list[ImageRecord]) -> tuple[list[ImageRecord], list[ImageRecord]]:
        """(the records to embed, those whose point is already stored). The stored ones are
        dealt with here, after every batch submitted so far: a new place noted, missing facts
        filled. Only worth asking of a collection that holds points already."""
        return self._pool.submit(self._split_stored, records).result()

    def close(self) -> WriteCounts:
        try:
            for future in self._pending:
                future.result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
        return self.counts

    def _stored(self, records: list[ImageRecord]) -> dict[str, dict]:
        keys = ["path", "source", "copies", "taken_from"]
        return {r.id: r.payload for r in self.store.retrieve(self.collection, [r.id for r in records], payload=keys)}

    def _split_stored(self, records: list[ImageRecord]) -> tuple[list[ImageRecord], list[ImageRecord]]:
        stored = self._stored(records)
        self._rename_old_sources(records, stored)
        for record in records:
            if record.id in stored:
                self._note_stored(record, stored[record.id])
        return [r for r in records if r.id not in stored], [r for r in records if r.id in stored]

    def _write(self, records: list[ImageRecord], vectors: np.ndarray, recon_errors: np.ndarray) -> None:
        stored = self._stored(records)
        self._rename_old_sources(records, stored)
        written_at = now()
        new: dict[str, Point] = {}
        for record, vector, error in zip(records, vectors, recon_errors):
            if record.id in new:  # a second copy within this batch: its point is not written yet
                self._note_copy(record, new[record.id].payload, persisted=False)
            elif record.id in stored:
                self._note_stored(record, stored[record.id])
            else:
                new[record.id] = Point(record.id, vector, record.payload(self.model_id, error, written_at))
        self.store.upsert(self.collection, list(new.values()))
        self.counts.indexed += len(new)

    def _rename_old_sources(self, records: list[ImageRecord], stored: dict[str, dict]) -> None:
        """Points whose source an earlier version named by its base name get its full path."""
        renamed: dict[str, list[str]] = {}  # full path of a source -> its points named the old way
        for record in records:
            payload = stored.get(record.id)
            if payload is not None and _old_name_of(record, payload):
                payload["source"] = record.source
                renamed.setdefault(record.source, []).append(record.id)
        for source, ids in renamed.items():
            self.store.set_payload(self.collection, ids, {"source": source})
            self.counts.renamed += len(ids)

    def _note_stored(self, record: ImageRecord, payload: dict) -> None:
        self._note_copy(record, payload, persisted=True)
        if "taken_from" not in payload and record.facts:
            self.store.set_payload(self.collection, [record.id], record.facts)
            payload.update(record.facts)  # a second copy later in the batch fills nothing
            self.counts.exif_filled += 1

    def _note_copy(self, record: ImageRecord, payload: dict, persisted: bool) -> None:
        self.counts.already_present += 1
        if record.place == {"source": payload.get("source"), "path": payload.get("path")}:
            return  # the same file loaded again
        copies = payload.setdefault("copies", [])
        named_before = [i for i, place in enumerate(copies) if _old_name_of(record, place)]
        if named_before:  # this copy, named by its source's base name
            copies[named_before[0]] = record.place
            if persisted:
                self.store.set_payload(self.collection, [record.id], {"copies": copies})
        elif record.place not in copies:
            copies.append(record.place)
            if persisted:
                self.store.set_payload(self.collection, [record.id], {"copies": copies})
            self.counts.copies.append((record.path, payload.get("path", "?")))


def _old_name_of(record: ImageRecord, place: dict) -> bool:
    """Whether a place is this record's file, written by an earlier version: its source's base
    name instead of its full path, and the same path inside it."""
    source = place.get("source") or ""
    return (
        place.get("path") == record.path
        and not os.path.isabs(source)
        and os.path.isabs(record.source)
        and source == os.path.basename(record.source)
    )
