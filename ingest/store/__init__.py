"""The vector store (`base.Store`: Qdrant Edge embedded, or a Qdrant server), the collections'
layout on it (`collections`), and the copies of the photos (`media`).

`open_store` is the one way in: it picks the engine from the settings, waits a little while
another process holds the embedded store, and turns a server's failures into one line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ingest.errors import UserError
from ingest.settings import Settings
from ingest.store.base import Layout, Near, Point, Record, Scored, Store, Where
from ingest.store.errors import translate_errors
from ingest.store.lock import StoreBusy

__all__ = [
    "Layout",
    "Near",
    "Point",
    "Record",
    "Scored",
    "Store",
    "StoreBusy",
    "Where",
    "open_store",
    "embedded_store_exists",
]


def embedded_store_exists(settings: Settings) -> bool:
    """A manifest, or collections that lost theirs (opening the store then says it is damaged)."""
    store = settings.store_dir
    return (store / "manifest.json").exists() or any(p.is_dir() for p in (store / "collections").glob("*"))


def connect(settings: Settings, wait_s: float | None = None, on_wait: Callable[[], None] | None = None) -> Store:
    """The store the settings name. The page holds the embedded store for one interaction, an
    ingest for a whole load: waiting `settings.wait_s` (CBIR_WAIT) covers the first and says
    what is going on during the second."""
    if settings.embedded:
        from ingest.store.edge import EdgeStore

        return EdgeStore(settings.store_dir, settings.wait_s if wait_s is None else wait_s, on_wait)
    from ingest.store.client import ClientStore

    assert settings.qdrant_url is not None  # not embedded
    try:
        return ClientStore.server(settings.qdrant_url, settings.qdrant_api_key, settings.timeout_s)
    except ValueError as exc:  # qdrant-client refuses a URL it cannot use (e.g. ftp://) before any request
        raise UserError(
            f"QDRANT_URL={settings.qdrant_url} is not a Qdrant URL ({exc}): give one like http://localhost:6333"
        ) from None


@contextmanager
def open_store(
    settings: Settings, wait_s: float | None = None, on_wait: Callable[[], None] | None = None
) -> Iterator[Store]:
    with translate_errors(settings):
        store = connect(settings, wait_s, on_wait)
        try:
            yield store
        finally:
            store.close()
