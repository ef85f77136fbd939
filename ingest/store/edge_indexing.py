"""Building a big collection's HNSW graph while a load is still writing to it.

Edge builds a graph only when asked (`EdgeShard.optimize`). Asked once, at the end, a
50,000-photo load waited 15 s for it on 2 cores (docs/decisions.md). `optimize` releases the
GIL and the engine takes writes while it runs, so each time INDEX_CHUNK points are waiting to be
indexed, the graph of what is written so far is built on a thread of its own, beside the load's
reading and embedding, and the end of the load indexes only the rest. A collection keeps up to
SEGMENTS segments (Edge's default is one per core), so that a graph built in the background is
kept rather than built again when the segments are merged.
"""

from __future__ import annotations

import threading
from pathlib import Path

import qdrant_edge as qe

from ingest.store.space import ensure_room, index_build_bytes

INDEX_CHUNK = 25_000
SEGMENTS = 8


def optimizers_config() -> qe.EdgeOptimizersConfig:
    return qe.EdgeOptimizersConfig(default_segment_number=SEGMENTS)


class BackgroundIndexing:
    """At most one graph build per collection at a time, each on its own thread; `wait` joins a
    collection's build and raises what it raised."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._threads: dict[str, threading.Thread] = {}
        self._errors: dict[str, Exception] = {}
        self._started_at: dict[str, int] = {}  # points in the collection when its last build began

    def after_write(self, name: str, shard: qe.EdgeShard) -> None:
        """Start building the collection's graph when INDEX_CHUNK points wait for it."""
        running = self._threads.get(name)
        if running is not None and running.is_alive():
            return
        info = shard.info()
        waiting = info.points_count - max(info.indexed_vectors_count, self._started_at.get(name, 0))
        if waiting < INDEX_CHUNK:
            return
        try:
            ensure_room(self.root, index_build_bytes(waiting))
        except OSError:
            return  # the build at the end of the load reports a full disk, as one line
        self._started_at[name] = info.points_count
        thread = threading.Thread(target=self._build, args=(name, shard), name=f"index-{name}")
        self._threads[name] = thread
        thread.start()

    def _build(self, name: str, shard: qe.EdgeShard) -> None:
        try:
            shard.optimize()
        except Exception as exc:  # Edge's errors are plain Exceptions; `wait` raises it where it is handled
            self._errors[name] = exc

    def wait(self, name: str) -> None:
        thread = self._threads.pop(name, None)
        if thread is not None:
            thread.join()
        self._started_at.pop(name, None)
        error = self._errors.pop(name, None)
        if error is not None:
            raise error

    def join_all(self) -> None:
        """Wait for every build, dropping their errors: the data is safe either way (a build
        writes new segments before it drops the old), and the next build tries again."""
        for thread in self._threads.values():
            thread.join()
        self._threads.clear()
        self._errors.clear()
        self._started_at.clear()
