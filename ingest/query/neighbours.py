"""Every point's nearest other points, asked of the store in batches: what `ingest evaluate`
and `ingest duplicates` are built on.

The stored vectors are read back once (no image is decoded or re-embedded) and sent back as
queries in batches, so a collection of thousands is answered in seconds, by the same engine
and distance that `ingest search` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ingest.store import Store, Where

BATCH = 256


@dataclass
class StoredPoints:
    ids: list[str]
    vectors: np.ndarray  # [N, D] float32, as the store keeps them (unit length)
    payloads: list[dict]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Neighbour:
    id: str
    score: float  # cosine similarity to the query point


def read_points(store: Store, collection: str, payload_keys: Sequence[str], where: Where | None = None) -> StoredPoints:
    """Every point of the collection (that `where` keeps) with its vector and the named payload keys."""
    ids, vectors, payloads = [], [], []
    for point in store.points(collection, where, payload=list(payload_keys), vectors=True):
        assert point.vector is not None  # asked for with vectors=True
        ids.append(point.id)
        vectors.append(point.vector)
        payloads.append(point.payload)
    matrix = np.stack(vectors).astype(np.float32) if vectors else np.empty((0, 0), dtype=np.float32)
    return StoredPoints(ids, matrix, payloads)


def nearest_others(
    store: Store,
    collection: str,
    points: StoredPoints,
    k: int,
    min_score: float | None = None,
    on_query: Callable[[int], None] = lambda _: None,
    where: Where | None = None,
) -> list[list[Neighbour]]:
    """For each point (in `points` order), its k nearest *other* points, best first.

    Each query asks for k+1 results and drops the point itself. If the point is not among
    them (other points tie with it at the top, e.g. identical pictures in two encodings),
    those k+1 are all at least as close as the point itself, so the first k of them are
    still exactly the k nearest others. Byte-identical files are one point, so they never
    show up as each other's neighbours; `ingest duplicates` reports them from `copies`.
    With `where`, neighbours are only points it keeps (photos of a time range, a camera).
    """
    results: list[list[Neighbour]] = []
    for start in range(0, len(points), BATCH):
        chunk_ids = points.ids[start : start + BATCH]
        answers = store.search_batch(collection, points.vectors[start : start + BATCH], k + 1, min_score, where)
        for own_id, found in zip(chunk_ids, answers):
            results.append([Neighbour(s.id, s.score) for s in found if s.id != own_id][:k])
        on_query(len(chunk_ids))
    return results
