"""Embedding photos in batches and handing them to the writer: the middle of a load, and of a
--retrain's re-embedding of the collection it replaces."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import closing

import torch

from encoder.embed import Embedder
from ingest.images import ImageRejected
from ingest.load.prefetch import prefetched
from ingest.load.reader import Skipped
from ingest.load.records import ImageRecord
from ingest.load.writer import StoreWriter
from ingest.progress import progress
from ingest.store import Store
from ingest.store.media import MediaStore


def embed_into(records: Iterable[ImageRecord], embedder: Embedder, writer: StoreWriter) -> int:
    """Embeds in batches, while the next photos are read, decoded and resized on another thread."""
    count, batch, pixels = 0, [], []
    with_pixels = ((record, embedder.preprocess(record.image)) for record in records)
    # closing(): on an error here the reading thread stops now, not when the generator is collected
    with closing(prefetched(with_pixels, depth=2 * embedder.batch_size)) as ahead:
        for record, tensor in ahead:
            batch.append(record)
            pixels.append(tensor)
            if len(batch) == embedder.batch_size:
                count += _flush(batch, pixels, embedder, writer)
                batch, pixels = [], []
    if batch:
        count += _flush(batch, pixels, embedder, writer)
    return count


def _flush(batch: list[ImageRecord], pixels: list[torch.Tensor], embedder: Embedder, writer: StoreWriter) -> int:
    vectors, errors = embedder.embed(torch.stack(pixels))
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
