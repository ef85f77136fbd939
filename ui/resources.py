"""What the page keeps between interactions: the connection to the store and the model.

The embedded store is a folder that one process at a time may open (Qdrant's local mode
takes a file lock). The page must not keep it from `ingest load`, so `StoreAccess` opens it
on the first interaction, keeps it open while interactions keep coming (opening 6,000
points costs 0.3 s), and closes it IDLE_RELEASE_S after the last one; `ingest load` waits
up to 60 s for it. A page in constant use still lets go after MAX_HOLD_S, and does not
reopen within HANDOVER_S, so an ingest polling for the lock (every 0.5 s) gets its turn.
Reopening is also what makes images ingested meanwhile appear: local mode reads the folder
when it opens it.

A Qdrant server has no such lock: its client is opened once and kept; httpx reconnects on
its own when a server that went away comes back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st
import torch
from qdrant_client import QdrantClient

from encoder.embed import Embedder
from ingest import report, store
from ingest.pipeline import model_path
from ingest.search import Index
from ingest.settings import Settings

IDLE_RELEASE_S = 10.0  # covers the pauses of a person clicking through results; ingest waits 60 s
MAX_HOLD_S = 45.0
HANDOVER_S = 1.0
# One query embeds one small image: splitting that over threads only adds waiting. Measured
# on 2 busy cores: p50 5.7 ms with 1 thread, 41 ms (p95 428 ms) with 2.
PAGE_TORCH_THREADS = 1


class StoreAccess:
    """One per data directory (or server) per process, shared by every browser session; a
    lock lets one session at a time use the client (local mode is not thread-safe)."""

    def __init__(self, settings: Settings, idle_release_s: float = IDLE_RELEASE_S,
                 max_hold_s: float = MAX_HOLD_S, handover_s: float = HANDOVER_S) -> None:
        self.settings = settings
        self.idle_release_s, self.max_hold_s, self.handover_s = idle_release_s, max_hold_s, handover_s
        self._lock = threading.Lock()
        self._client: QdrantClient | None = None
        self._opened_at = 0.0
        self._reopen_after = 0.0
        self._uses = 0  # which use an idle timer belongs to; a later use voids it
        self._timer: threading.Timer | None = None
        self.last_open_ms: float | None = None  # what this interaction paid to open, for the footer

    @contextmanager
    def session(self) -> Iterator[QdrantClient | None]:
        """The client for one interaction. None: the embedded store does not exist yet (nothing
        was ever ingested here), and the page does not create it. Raises StoreBusy while an
        ingest holds the embedded store, UserError (with the URL) when a server fails."""
        with self._lock:
            self._uses += 1
            if self._timer:
                self._timer.cancel()
            if self.settings.embedded and not self.settings.qdrant_path.exists():
                self.last_open_ms = None
                yield None
                return
            try:
                with store.translate_errors(self.settings):
                    yield self._client_now()
            finally:
                self._after_use()

    def release(self) -> None:
        """Close the embedded store now (idle timer, tests, shutdown)."""
        with self._lock:
            self._close()

    @property
    def is_open(self) -> bool:
        return self._client is not None

    def _client_now(self) -> QdrantClient:
        if self._client is not None:
            self.last_open_ms = 0.0
            return self._client
        wait = self._reopen_after - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # the handover window: an ingest waiting for the lock takes it now
        started = time.perf_counter()
        self._client = store.connect(self.settings)  # fails at once (StoreBusy) while held
        self._opened_at = time.monotonic()
        self.last_open_ms = (time.perf_counter() - started) * 1000
        return self._client

    def _after_use(self) -> None:
        if not self.settings.embedded or self._client is None:
            return
        if time.monotonic() - self._opened_at >= self.max_hold_s:
            self._close()
            self._reopen_after = time.monotonic() + self.handover_s
            return
        self._timer = threading.Timer(self.idle_release_s, self._release_if_idle, args=(self._uses,))
        self._timer.daemon = True
        self._timer.start()

    def _release_if_idle(self, use: int) -> None:
        with self._lock:
            if use == self._uses:
                self._close()

    def _close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()


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
    return Embedder.from_file(Path(checkpoint))


def open_index(client: QdrantClient, settings: Settings, state: store.CollectionState) -> Index:
    """The collection with its model; the model is loaded once per model id, not per interaction."""
    return Index(client, state, _embedder(str(model_path(settings, state)), state.model_id or ""))


# The facts below change only when points are added (count) or the alias moves (physical).
@st.cache_data(max_entries=16, show_spinner=False)
def label_counts(_index: Index, store_name: str, physical: str, points: int) -> dict[str, int]:
    return _index.labels()


@st.cache_data(max_entries=4, show_spinner=False)
def collection_facts(_client: QdrantClient, _settings: Settings, collection: str, store_name: str,
                     physical: str, points: int, metadata_key: str) -> dict:
    return report.collection_info(_client, _settings, collection)
