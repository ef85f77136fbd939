"""`Store` on Qdrant Edge: Qdrant's own engine inside this process, no server.

Edge gives one shard (segments, write-ahead log, payload indexes, HNSW on demand) per folder.
What a server adds on top is built here, small: a folder per collection, and a manifest
(`manifest.json`: each collection's dimension and metadata, and the aliases) that is
replaced by an atomic rename, so switching an alias (`--retrain`) is one step that a crash
cannot half-do. Layout of the store's folder:

    lock                  our flock (see `lock.py`); taken before any shard is opened
    manifest.json
    collections/<name>/   one Edge shard
    catalog/              each collection's description and its points' payloads (`catalog.py`)

The API is marked beta and pinned in pyproject.toml; tests/unit/test_store_contract.py checks the
behaviour this module relies on.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import qdrant_edge as qe

from ingest.store import space
from ingest.store.base import Layout, Point, Store
from ingest.store.catalog import Catalog
from ingest.store.edge_indexing import SEGMENTS, BackgroundIndexing, optimizers_config
from ingest.store.edge_reads import EdgeReads
from ingest.store.edge_types import engine_errors, payload_indexes
from ingest.store.lock import DirectoryLock
from ingest.store.manifest import Manifest
from ingest.store.space import NEW_COLLECTION_BYTES, POINT_BYTES, RESERVE_BYTES, ensure_room, free_bytes

# Edge builds an HNSW graph only when asked (`optimize`). Below this many points an exact
# search is already fast (about 4 ms at 60,000 on 2 cores), and building costs seconds.
INDEX_MIN_POINTS = 50_000


class EdgeStore(EdgeReads, Store):
    embedded = True

    def __init__(self, root: Path, wait_s: float = 0.0, on_wait: Callable[[], None] | None = None) -> None:
        self.root = root
        self.description = f"embedded store at {root}"
        space.check_room_to_open(root)  # a full disk is one line here, not a SIGBUS in Edge
        (root / "collections").mkdir(parents=True, exist_ok=True)
        self._lock = DirectoryLock(root / "lock")
        self._lock.acquire(wait_s, on_wait)
        self._shards: dict[str, qe.EdgeShard] = {}
        self._indexing = BackgroundIndexing(root)
        self.catalog = Catalog(root / "catalog")
        self._maps_allocate = space.maps_allocate(root)  # a tmpfs: see space.py
        try:
            self._manifest = Manifest(root / "manifest.json", self.description)
        except BaseException:
            self._lock.release()
            raise

    @engine_errors
    def _shard(self, name: str) -> qe.EdgeShard:
        if name not in self._shards:
            self._manifest.entry(name)
            folder = self._folder(name)
            space.check_room_to_open(self.root, space.growth_on_open(folder))
            self._shards[name] = qe.EdgeShard.load(str(folder))
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
        folder = self._folder(name)
        if folder.exists():  # left by a create that a crash interrupted: never in the manifest
            shutil.rmtree(folder)
        self._shards[name] = self._new_shard(name, dim)
        self.catalog.write_description(name, dim, metadata, SEGMENTS)
        self._manifest.add(name, dim, metadata, SEGMENTS)

    def recreate(self, name: str, aside: Path | None) -> None:
        """Start a damaged collection again, empty, under its name, dimension, metadata, aliases
        and catalog (`ingest repair` fills it); its folder is moved to `aside` first (None: it is
        gone already)."""
        shard, entry = self._shards.pop(name, None), self._manifest.entry(name)
        with contextlib.suppress(Exception):  # Edge may fail to close what it failed to read
            if shard is not None:
                shard.close()
        if aside is not None:
            aside.parent.mkdir(parents=True, exist_ok=True)
            self._folder(name).rename(aside)
        self._shards[name] = self._new_shard(name, entry["dim"])
        self._manifest.add(name, entry["dim"], entry["metadata"], SEGMENTS)  # made as a new one is

    @engine_errors
    def _new_shard(self, name: str, dim: int) -> qe.EdgeShard:
        ensure_room(self.root, NEW_COLLECTION_BYTES)  # its payload indexes' files, written at once
        folder = self._folder(name)
        vectors = qe.EdgeVectorParams(dim, qe.Distance.Cosine)
        shard = qe.EdgeShard.create(str(folder), qe.EdgeConfig(vectors=vectors, optimizers=optimizers_config()))
        for field, schema in payload_indexes():
            shard.update(qe.UpdateOperation.create_field_index(field, schema))
        shard.flush()
        return shard

    @engine_errors
    def delete_collection(self, name: str) -> None:
        self._manifest.remove(name)  # gone for every reader before its files go
        with contextlib.suppress(Exception):  # a graph of a collection being deleted
            self._indexing.wait(name)
        shard = self._shards.pop(name, None)
        if shard is not None:
            shard.close()
        shutil.rmtree(self._folder(name), ignore_errors=True)
        self.catalog.drop(name)

    def set_alias(self, alias: str, collection: str) -> None:
        self._manifest.set_alias(alias, collection)
        self.catalog.aliased(collection, alias)

    def metadata(self, name: str) -> dict:
        return dict(self._manifest.entry(name)["metadata"])

    def update_metadata(self, name: str, changes: dict) -> None:
        self._manifest.update_metadata(name, changes)
        entry = self._manifest.entry(name)
        self.catalog.write_description(name, entry["dim"], entry["metadata"], entry.get("segments"))

    def layout(self, name: str) -> Layout:
        self._manifest.entry(name)
        return Layout()

    def dimension(self, name: str) -> int:
        return self._manifest.entry(name)["dim"]

    # Writing points (reading them: `edge_reads.py`).
    @engine_errors
    def upsert(self, name: str, points: Sequence[Point]) -> None:
        if not points:
            return
        # See space.py: never let Edge meet a full disk, now or when the collection is opened again.
        grows = space.growth_on_open(self._folder(name)) if self._maps_allocate else 0
        ensure_room(self.root, POINT_BYTES * len(points) + grows)
        # One conversion of the whole batch: Edge takes lists faster than numpy rows.
        vectors = np.asarray([p.vector for p in points], dtype=np.float32).tolist()
        shard = self._shard(name)
        self.catalog.upserted(name, {p.id: p.payload for p in points})  # first: see catalog.py
        shard.update(qe.UpdateOperation.upsert_points([qe.Point(p.id, v, p.payload) for p, v in zip(points, vectors)]))
        if self._manifest.entry(name).get("segments"):  # an older shard merges its segments: no gain
            self._indexing.after_write(name, shard)

    @engine_errors
    def set_payload(self, name: str, ids: Sequence[str], payload: dict) -> None:
        ensure_room(self.root, POINT_BYTES * len(ids))
        shard = self._shard(name)
        self.catalog.payload_set(name, ids, payload)
        shard.update(qe.UpdateOperation.set_payload(list(ids), payload))

    @engine_errors
    def delete(self, name: str, ids: Sequence[str]) -> None:
        ensure_room(self.root, 0)  # a deletion is written too: the log, the segments' flags
        shard = self._shard(name)
        self.catalog.deleted(name, ids)
        shard.update(qe.UpdateOperation.delete_points(list(ids)))

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
    def build_index(self, name: str) -> bool:
        """Build the HNSW graph of a big collection (minutes at 500,000 points); True when built.
        What a load's writes already had built in the background (`edge_indexing`) is kept."""
        self._indexing.wait(name)
        if self.count(name) < INDEX_MIN_POINTS:
            return False
        ensure_room(self.root, space.index_build_bytes(self.count(name)))
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
        self.catalog.sync()

    def disk_bytes(self) -> int:
        """Real size on disk: Edge preallocates sparse files, whose apparent size is far larger."""
        return space.allocated_bytes(self.root)

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
