"""Writing embedded images into Qdrant on a background thread, so that Qdrant's write time
overlaps the next batch's decoding and embedding instead of adding to it.

All Qdrant calls of a load happen on this one thread, in submission order, so a batch sees
every earlier batch's points: an image met twice is stored once, and the second place it
was found is recorded in the point's `copies`.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from qdrant_client import QdrantClient, models

from ingest.store import point_id


@dataclass
class Prepared:
    """One image, embedded, with what its payload will say."""

    sha256: str
    path: str
    source: str
    label: str | None
    width: int
    height: int
    format: str
    nbytes: int
    vector: np.ndarray
    recon_error: float


@dataclass
class WriteCounts:
    indexed: int = 0  # new points
    present: int = 0  # already in the collection (same bytes)
    copies: list[tuple[str, str]] = field(default_factory=list)  # (path, path of the stored original)


class QdrantWriter:
    def __init__(self, client: QdrantClient, collection: str, model_id: str, max_pending: int = 2) -> None:
        self.client, self.collection, self.model_id = client, collection, model_id
        self.counts = WriteCounts()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant-writer")
        self._pending: list[Future] = []
        self._max_pending = max_pending

    def submit(self, items: list[Prepared]) -> None:
        """Queue a batch; blocks while max_pending batches are still being written, so memory
        stays bounded when Qdrant is the slower side. Re-raises a failed write."""
        while len(self._pending) >= self._max_pending:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._write, items))

    def close(self) -> WriteCounts:
        try:
            for future in self._pending:
                future.result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
        return self.counts

    def _write(self, items: list[Prepared]) -> None:
        ids = [point_id(item.sha256) for item in items]
        stored = {
            str(p.id): p.payload or {}
            for p in self.client.retrieve(self.collection, ids, with_payload=["path", "source", "copies"])
        }
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        new: dict[str, models.PointStruct] = {}
        for item, pid in zip(items, ids):
            if pid in new:  # a second copy within this batch: its point is not written yet
                self._note_copy(pid, item, new[pid].payload, persisted=False)
            elif pid in stored:
                self._note_copy(pid, item, stored[pid], persisted=True)
            else:
                new[pid] = models.PointStruct(id=pid, vector=item.vector.tolist(), payload=self._payload(item, now))
        if new:
            self.client.upsert(self.collection, points=list(new.values()), wait=True)
        self.counts.indexed += len(new)

    def _note_copy(self, pid: str, item: Prepared, payload: dict, persisted: bool) -> None:
        self.counts.present += 1
        place = {"source": item.source, "path": item.path}
        if place == {"source": payload.get("source"), "path": payload.get("path")}:
            return  # the same file loaded again
        copies = payload.setdefault("copies", [])
        if place not in copies:
            copies.append(place)
            if persisted:
                self.client.set_payload(self.collection, payload={"copies": copies}, points=[pid], wait=True)
            self.counts.copies.append((item.path, payload.get("path", "?")))

    def _payload(self, item: Prepared, now: str) -> dict:
        return {
            "path": item.path,
            "source": item.source,
            "label": item.label,
            "width": item.width,
            "height": item.height,
            "format": item.format,
            "bytes": item.nbytes,
            "sha256": item.sha256,
            "model_id": self.model_id,
            "recon_error": float(item.recon_error),
            "ingested_at": now,
        }
