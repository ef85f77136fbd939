"""Every point's nearest other points, asked of Qdrant in batches: what `ingest evaluate`
and `ingest duplicates` are built on.

The stored vectors are read back once (no image is decoded or re-embedded) and sent back as
queries through `query_batch_points`, a few hundred per request, so a collection of
thousands is answered in seconds, by the same engine and distance that `ingest search` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from qdrant_client import QdrantClient, models

SCROLL_PAGE = 1000
QUERY_CHUNK = 256  # queries per request: ~256 KB of JSON for 256-d vectors on a server


@dataclass
class StoredPoints:
    ids: list[str]
    vectors: np.ndarray  # [N, D] float32, as Qdrant stores them (unit length for cosine)
    payloads: list[dict]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Neighbour:
    id: str
    score: float  # cosine similarity to the query point


def read_points(client: QdrantClient, physical: str, payload_keys: Sequence[str]) -> StoredPoints:
    """Every point of the collection with its vector and the named payload keys."""
    ids: list[str] = []
    vectors: list[list[float]] = []
    payloads: list[dict] = []
    offset = None
    while True:
        page, offset = client.scroll(
            physical, limit=SCROLL_PAGE, offset=offset, with_vectors=True, with_payload=list(payload_keys)
        )
        for point in page:
            ids.append(str(point.id))
            vectors.append(point.vector)  # one unnamed dense vector per point in our collections
            payloads.append(point.payload or {})
        if offset is None:
            break
    matrix = np.asarray(vectors, dtype=np.float32) if vectors else np.empty((0, 0), dtype=np.float32)
    return StoredPoints(ids, matrix, payloads)


def nearest_others(
    client: QdrantClient,
    physical: str,
    points: StoredPoints,
    k: int,
    score_threshold: float | None = None,
    on_query: Callable[[], None] = lambda: None,
) -> list[list[Neighbour]]:
    """For each point (in `points` order), its k nearest *other* points, best first.

    Each query asks for k+1 results and drops the point itself. If the point is not among
    them (other points tie with it at the top, e.g. identical pictures in two encodings),
    those k+1 are all at least as close as the point itself, so the first k of them are
    still exactly the k nearest others. Byte-identical files are one point, so they never
    show up as each other's neighbours; `ingest duplicates` reports them from `copies`.
    """
    results: list[list[Neighbour]] = []
    for start in range(0, len(points), QUERY_CHUNK):
        chunk_ids = points.ids[start : start + QUERY_CHUNK]
        requests = [
            models.QueryRequest(
                query=vector.tolist(), limit=k + 1, score_threshold=score_threshold, with_payload=False
            )
            for vector in points.vectors[start : start + QUERY_CHUNK]
        ]
        responses = client.query_batch_points(physical, requests=requests)
        for own_id, response in zip(chunk_ids, responses):
            found = [Neighbour(str(p.id), float(p.score)) for p in response.points]
            others = [n for n in found if n.id != own_id]
            results.append(others[:k])
            on_query()
    return results
