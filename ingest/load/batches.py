"""Embedding photos in batches and handing them to the writer: the middle of a load, and of a
--retrain's re-embedding of the collection it replaces."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch

from encoder.embed import Embedder
from ingest.images import ImageRejected
from ingest.load.reader import Skipped
from ingest.load.records import ImageRecord
from ingest.load.writer import StoreWriter
from ingest.progress import progress
from ingest.store import Store
from ingest.store.media import MediaStore


def embed_into(
    records: Iterable[ImageRecord], embedder: Embedder, writer: StoreWriter, media: MediaStore | None = None
) -> int:
    """Embeds in batches; with `media`, each photo's copy is written before its point."""
    count, batch = 0, []
    for record in records:
        if media is not None and record.data is not None:
            media.put(record.sha256, record.data, record.image)
        batch.append(record)
        if len(batch) == embedder.batch_size:
            count += _flush(batch, embedder, writer)
            batch = []
    if batch:
        count += _flush(batch, embedder, writer)
    return count


def _flush(batch: list[ImageRecord], embedder: Embedder, writer: StoreWriter) -> int:
    vectors, errors = embedder.embed(torch.stack([embedder.preprocess(r.image) for r in batch]))
    writer.submit(batch, vectors, errors)
    return len(batch)


def stored_records(
    store: Store, collection: str, media: MediaStore, on_skip: Callable[[Skipped], None], show_progress: bool
) -> Iterator[ImageRecord]:
    """Every point of a collection as a record, its picture read back from the media store;
    a point whose copy is missing is passed to on_skip (it stays in the old collection)."""
    with progress("re-embedding the collection", store.count(collection), show_progress) as bar:
        for point in store.points(collection):
            bar.advance()
            try:
                yield ImageRecord.from_payload(point.payload, media.open(point.payload["sha256"]))
            except (FileNotFoundError, ImageRejected, KeyError) as exc:
                on_skip(
                    Skipped(point.payload.get("path", point.id), f"kept in the old collection: no stored copy ({exc})")
                )
