"""What the page keeps between interactions: the connection to the store and the model.

The embedded store is a folder that one process at a time may open, and the page must not
keep it from `ingest load`. Qdrant Edge opens a collection in tens of milliseconds
(docs/decisions.md), so the page opens the store for each interaction and closes it at
the end; between interactions nothing is held, an ingest waits at most one interaction, and
what an ingest wrote shows on the next one. A Qdrant server has no such lock: its client is
opened once and kept; httpx reconnects by itself when a server that went away comes back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st
import torch

from encoder.embed import Embedder
from ingest.query import report
from ingest.query.search import Index
from ingest.settings import Settings
from ingest.store import Store, connect, embedded_store_exists
from ingest.store import collections as cols
from ingest.store.damage import embedder_from
from ingest.store.errors import translate_errors

# One query embeds one small image: splitting that over threads only adds waiting. Measured
# on 2 busy cores: p50 5.7 ms with 1 thread, 41 ms (p95 428 ms) with 2.
PAGE_TORCH_THREADS = 1


class StoreAccess:
    """One per data directory (or server) per process, shared by every browser session; a
    lock lets one session at a time use the store."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._server: Store | None = None
        self.last_open_ms: float | None = None  # what this interaction paid to open, for the footer

    @contextmanager
    def session(self) -> Iterator[Store | None]:
        """The store for one interaction. None: the embedded store does not exist yet (nothing
        was ever ingested here), and the page does not create it. Raises StoreBusy while an
        ingest holds the embedded store, UserError (with the URL) when a server fails."""
        with self._lock, translate_errors(self.settings):
            if not self.settings.embedded:
                if self._server is None:
                    self._server = self._open()
                else:
                    self.last_open_ms = 0.0
                yield self._server
            elif not embedded_store_exists(self.settings):
                self.last_open_ms = None
                yield None
            else:
                store = self._open()  # fails at once (StoreBusy) while an ingest holds it
                try:
                    yield store
                finally:
                    store.close()

    def _open(self) -> Store:
        started = time.perf_counter()
        store = connect(self.settings, wait_s=0)
        self.last_open_ms = (time.perf_counter() - started) * 1000
        return store


@st.cache_resource(show_spinner=False)
def store_access(home: str, qdrant_url: str | None, api_key: str | None, timeout_s: float) -> StoreAccess:
    return StoreAccess(Settings(Path(home), qdrant_url, api_key, timeout_s))


def access_for(settings: Settings) -> StoreAccess:
    return store_access(str(settings.home), settings.qdrant_url, settings.qdrant_api_key, settings.timeout_s)


def configure_torch() -> None:
    torch.set_num_threads(PAGE_TORCH_THREADS)


@st.cache_resource(max_entries=2, show_spinner="Loading the model…")
def _embedder(checkpoint: str, model_id: str) -> Embedder:
    configure_torch()
    return embedder_from(Path(checkpoint))  # a damaged checkpoint: one line in a box


def open_index(store: Store, settings: Settings, state: cols.CollectionState) -> Index:
    """The collection with its model; the model is loaded once per model id, not per interaction."""
    return Index(store, state, _embedder(str(cols.checkpoint_path(settings, state)), state.model_id or ""))


# The facts below change only when points are added (count) or the alias moves (physical).
@st.cache_data(max_entries=16, show_spinner=False)
def label_counts(_index: Index, store_name: str, physical: str, points: int) -> dict[str, int]:
    return _index.labels()


@st.cache_data(max_entries=16, show_spinner=False)
def library_facts(_index: Index, store_name: str, physical: str, points: int) -> dict:
    """What the date and camera filters offer: the cameras (photos each), the first and the last
    day a photo was taken (None when no photo has a date, or the collection was loaded before
    dates were read and not since: it has no index to order them by)."""
    store, missing = _index.store, set(_index.store.missing_payload_indexes(physical))
    first = last = []
    if "taken_at" not in missing:
        first = store.ordered(physical, "taken_at", 1)
        last = store.ordered(physical, "taken_at", 1, descending=True)
    cameras = store.facet(physical, "camera") if "camera" not in missing else {}
    return {
        "cameras": dict(sorted(cameras.items(), key=lambda item: (-item[1], item[0]))),
        "first_taken": first[0].payload["taken_at"][:10] if first else None,
        "last_taken": last[0].payload["taken_at"][:10] if last else None,
    }


@st.cache_data(max_entries=4, show_spinner=False)
def collection_facts(
    _store: Store, _settings: Settings, collection: str, store_name: str, physical: str, points: int, metadata_key: str
) -> dict:
    return report.collection_info(_store, _settings, collection)
