"""`Store` on Qdrant Edge: Qdrant's own engine inside this process, no server.

Edge gives one shard (segments, write-ahead log, payload indexes, HNSW on demand) per folder.
What a server adds on top is built here, small: a folder per collection, and a manifest
(`manifest.json`: each collection's dimension and metadata, and the aliases) that is
replaced by an atomic rename, so switching an alias (`--retrain`) is one step that a crash
cannot half-do. Layout of the store's folder:

    lock                  our flock (see `lock.py`); taken before any shard is opened
    manifest.json
    collections/<name>/   one Edge shard

The API is marked beta and pinned in pyproject.toml; tests/test_store_contract.py checks the
behaviour this module relies on.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import qdrant_edge as qe

from ingest.store.base import SCROLL_PAGE, Layout, Point, Record, Scored, Store, Where
from ingest.store.edge_indexing import SEGMENTS, BackgroundIndexing, optimizers_config
from ingest.store.edge_types import edge_filter, engine_errors, payload_indexes, payload_selector, to_record, to_scored
from ingest.store.lock import DirectoryLock
from ingest.store.manifest import Manifest
from ingest.store.space import POINT_BYTES, RESERVE_BYTES, ensure_room, free_bytes

QUERY_CHUNK = 256
# Edge builds an HNSW graph only when asked (`optimize`). Below this many points an exact
# search is already fast (about 4 ms at 60,000 on 2 cores), and building costs seconds.
INDEX_MIN_POINTS = 50_000


class EdgeStore(Store):
    embedded = True

    def __init__(self, root: Path, wait_s: float = 0.0, on_wait: Callable[[], None] | None = None) -> None:
        self.root = root
        self.description = f"embedded store at {root}"
        (root / "collections").mkdir(parents=True, exist_ok=True)
        self._lock = DirectoryLock(root / "lock")
        self._lock.acquire(wait_s, on_wait)
        self._shards: dict[str, qe.EdgeShard] = {}
        self._indexing = BackgroundIndexing(root)
        try:
            self._manifest = Manifest(root / "manifest.json", self.description)
        except BaseException:
            self._lock.release()
            raise

    @engine_errors
    def _shard(self, name: str) -> qe.EdgeShard:
        if name not in self._shards:
            self._manifest.entry(name)
            self._shards[name] = qe.EdgeShard.load(str(self._folder(name)))
        return self._shards[name]

    def _folder(self, name: str) -> Path:
        return self.root / "collections" / name

    # Collections, aliases, metadata.
    def collections(self) -> list[str]:
        return sorted(self._manifest.collections)

    def aliases(self) -> dict[str, str]:
        return dict(self._manifest.aliases)

    @engine_errors
    def create_collection(self, name: str, dim: int, metadata: dict, layout: Layout = Layout()) -> None:
        if name in self._manifest.collections:
            raise ValueError(f"collection {name!r} already exists")
        ensure_room(self.root, 0)
        folder = self._folder(name)
        if folder.exists():  # left by a create that a crash interrupted: never in the manifest
            shutil.rmtree(folder)
        vectors = qe.EdgeVectorParams(dim, qe.Distance.Cosine)
        shard = qe.EdgeShard.create(str(folder), qe.EdgeConfig(vectors=vectors, optimizers=optimizers_config()))
        for field, schema in payload_indexes():
            shard.update(qe.UpdateOperation.create_field_index(field, schema))
        shard.flush()
        self._shards[name] = shard
        self._manifest.add(name, dim, metadata, SEGMENTS)

    @engine_errors
    def delete_collection(self, name: str) -> None:
        self._manifest.remove(name)  # gone for every reader before its files go
        with contextlib.suppress(Exception):  # a graph of a collection being deleted
            self._indexing.wait(name)
        shard = self._shards.pop(name, None)
        if shard is not None:
            shard.close()
        shutil.rmtree(self._folder(name), ignore_errors=True)

    def set_alias(self, alias: str, collection: str) -> None:
        self._manifest.set_alias(alias, collection)

    def metadata(self, name: str) -> dict:
        return dict(self._manifest.entry(name)["metadata"])

    def update_metadata(self, name: str, changes: dict) -> None:
        self._manifest.update_metadata(name, changes)

    def layout(self, name: str) -> Layout:
        self._manifest.entry(name)
        return Layout()

    def dimension(self, name: str) -> int:
        return self._manifest.entry(name)["dim"]

    # Points.
    @engine_errors
    def upsert(self, name: str, points: Sequence[Point]) -> None:
        if not points:
            return
        ensure_room(self.root, POINT_BYTES * len(points))  # see space.py: never let Edge meet a full disk
        # One conversion of the whole batch: Edge takes lists faster than numpy rows.
        vectors = np.asarray([p.vector for p in points], dtype=np.float32).tolist()
        shard = self._shard(name)
        shard.update(qe.UpdateOperation.upsert_points([qe.Point(p.id, v, p.payload) for p, v in zip(points, vectors)]))
        if self._manifest.entry(name).get("segments"):  # an older shard merges its segments: no gain
            self._indexing.after_write(name, shard)

    @engine_errors
    def retrieve(
        self, name: str, ids: Sequence[str], payload: bool | Sequence[str] = True, vectors: bool = False
    ) -> list[Record]:
        found = self._shard(name).retrieve(list(ids), payload_selector(payload), vectors)
        by_id = {str(p.id): to_record(p) for p in found}
        return [by_id[i] for i in ids if i in by_id]

    @engine_errors
    def set_payload(self, name: str, ids: Sequence[str], payload: dict) -> None:
        ensure_room(self.root, POINT_BYTES * len(ids))
        self._shard(name).update(qe.UpdateOperation.set_payload(list(ids), payload))

    @engine_errors
    def delete(self, name: str, ids: Sequence[str]) -> None:
        self._shard(name).update(qe.UpdateOperation.delete_points(list(ids)))

    @engine_errors
    def count(self, name: str, where: Where | None = None) -> int:
        return self._shard(name).count(qe.CountRequest(exact=True, filter=edge_filter(where)))

    @engine_errors
    def scroll(
        self,
        name: str,
        where: Where | None = None,
        limit: int = SCROLL_PAGE,
        offset: str | None = None,
        payload: bool | Sequence[str] = True,
        vectors: bool = False,
    ) -> tuple[list[Record], str | None]:
        records, next_offset = self._shard(name).scroll(
            qe.ScrollRequest(
                offset=offset,
                limit=limit,
                filter=edge_filter(where),
                with_payload=payload_selector(payload),
                with_vector=vectors,
            )
        )
        return [to_record(p) for p in records], (str(next_offset) if next_offset is not None else None)

    @engine_errors
    def search(
        self, name: str, vector: np.ndarray, limit: int, where: Where | None = None, min_score: float | None = None
    ) -> list[Scored]:
        found = self._shard(name).query(
            qe.QueryRequest(
                limit=limit,
                query=qe.Query.Nearest(np.asarray(vector, dtype=np.float32).tolist()),
                filter=edge_filter(where),
                score_threshold=min_score,
                with_payload=True,
            )
        )
        return [to_scored(p) for p in found]

    @engine_errors
    def search_batch(
        self, name: str, vectors: np.ndarray, limit: int, min_score: float | None = None, where: Where | None = None
    ) -> list[list[Scored]]:
        shard, rows = self._shard(name), np.asarray(vectors, dtype=np.float32).tolist()
        results: list[list[Scored]] = []
        for start in range(0, len(rows), QUERY_CHUNK):
            requests = [
                qe.QueryRequest(
                    limit=limit,
                    query=qe.Query.Nearest(row),
                    filter=edge_filter(where),
                    score_threshold=min_score,
                    with_payload=False,
                )
                for row in rows[start : start + QUERY_CHUNK]
            ]
            results += [[to_scored(p) for p in found] for found in shard.query_batch(qe.QueryBatchRequest(requests))]
        return results

    @engine_errors
    def recommend(
        self,
        name: str,
        positives: Sequence[np.ndarray],
        negatives: Sequence[np.ndarray],
        limit: int,
        where: Where | None = None,
        min_score: float | None = None,
    ) -> list[Scored]:
        query = qe.Query.RecommendBestScore(
            qe.RecommendQuery(
                positives=[np.asarray(v, dtype=np.float32).tolist() for v in positives],
                negatives=[np.asarray(v, dtype=np.float32).tolist() for v in negatives],
            )
        )
        found = self._shard(name).query(
            qe.QueryRequest(
                limit=limit, query=query, filter=edge_filter(where), score_threshold=min_score, with_payload=True
            )
        )
        return [to_scored(p) for p in found]

    @engine_errors
    def sample(self, name: str, where: Where | None = None) -> Record | None:
        found = self._shard(name).query(
            qe.QueryRequest(limit=1, query=qe.Sample.Random, filter=edge_filter(where), with_payload=True)
        )
        return Record(str(found[0].id), found[0].payload or {}) if found else None

    @engine_errors
    def ordered(
        self,
        name: str,
        key: str,
        limit: int,
        where: Where | None = None,
        descending: bool = False,
        start_from: str | float | None = None,
    ) -> list[Record]:
        direction = qe.Direction.Desc if descending else qe.Direction.Asc
        records, _ = self._shard(name).scroll(
            qe.ScrollRequest(
                limit=limit,
                filter=edge_filter(where),
                order_by=qe.OrderBy(key, direction, start_from),
                with_payload=True,
            )
        )
        return [to_record(p) for p in records]

    @engine_errors
    def missing_payload_indexes(self, name: str) -> list[str]:
        present = set(self._shard(name).info().payload_schema)
        return [field for field, _ in payload_indexes() if field not in present]

    @engine_errors
    def ensure_payload_indexes(self, name: str) -> list[str]:
        missing, shard = self.missing_payload_indexes(name), self._shard(name)
        if missing:
            ensure_room(self.root, POINT_BYTES * shard.info().points_count)
            for field, schema in payload_indexes():
                if field in missing:
                    shard.update(qe.UpdateOperation.create_field_index(field, schema))
            shard.flush()
        return missing

    @engine_errors
    def facet(self, name: str, key: str, where: Where | None = None) -> dict[str, int]:
        response = self._shard(name).facet(
            qe.FacetRequest(key=key, limit=100_000, exact=True, filter=edge_filter(where))
        )
        return {str(h.value): h.count for h in response.hits if h.count > 0}

    @engine_errors
    def build_index(self, name: str) -> bool:
        """Build the HNSW graph of a big collection (minutes at 500,000 points); True when built.
        What a load's writes already had built in the background (`edge_indexing`) is kept."""
        self._indexing.wait(name)
        if self.count(name) < INDEX_MIN_POINTS:
            return False
        ensure_room(self.root, 2 * POINT_BYTES * self.count(name))  # optimizing rewrites the segments
        shard = self._shard(name)
        built = shard.optimize()
        shard.flush()
        return built or shard.info().indexed_vectors_count > 0  # the background may have built it all

    @engine_errors
    def flush(self) -> None:
        """Write every open collection's segments to disk (the write-ahead log already has
        the points: this makes reopening fast)."""
        for shard in self._shards.values():
            shard.flush()

    def disk_bytes(self) -> int:
        """Real size on disk: Edge preallocates sparse files, whose apparent size is far larger."""
        return sum(p.stat().st_blocks * 512 for p in self.root.rglob("*") if p.is_file())

    def close(self) -> None:
        self._indexing.join_all()
        try:
            # Flushing rewrites segment files in place; on a nearly full disk that could leave
            # them torn. The write-ahead log holds every point anyway: the next open replays it.
            if free_bytes(self.root) >= RESERVE_BYTES:
                self.flush()
        finally:
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()
            self._lock.release()
