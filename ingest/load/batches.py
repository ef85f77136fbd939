"""Embedding photos in batches and handing them to the writer: the middle of a load, and of a
--retrain's re-embedding of the collection it replaces."""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from typing import Protocol

import numpy as np
import torch

from encoder.device import torch_threads
from encoder.embed import Embedder
from ingest.images import ImageRejected
from ingest.load.prefetch import prefetched
from ingest.load.reader import Skipped
from ingest.load.records import ImageRecord
from ingest.load.writer import StoreWriter
from ingest.progress import progress
from ingest.store import Store
from ingest.store.media import MediaStore, NotASha256

# Batches are embedded side by side, each on its share of the cores: this model's small
# convolutions scale better across batches than within one (12,000 photos on 2 cores: 475
# photos/s with two batches at once on a thread each, 375 with one batch on one thread).
MAX_EMBED_WORKERS = 4


def embedding_workers() -> tuple[int, int]:
    """How many batches a load embeds at once, and the intra-op threads each gets."""
    cores = torch.get_num_threads()
    workers = min(MAX_EMBED_WORKERS, cores)
    return workers, cores // workers


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Python's cycle collector, run less often for the duration: every photo allocates a few
    dozen short-lived containers, each young-generation pass holds the GIL that all the load's
    threads share, and a full pass walks every object torch and the model brought with them.
    gc.freeze() sets those aside; 50,000 allocations between young passes instead of 700
    (docs/decisions.md). Cycles are still collected, less often; the photos' objects make
    none. A caller that froze objects of its own (gc.freeze) keeps them frozen."""
    thresholds, frozen_by_caller = gc.get_threshold(), gc.get_freeze_count() > 0
    if not frozen_by_caller:
        gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not frozen_by_caller:
            gc.unfreeze()


class BatchWriter(Protocol):
    """What embed_into hands each batch to: a StoreWriter, or what keeps the vectors in memory."""

    def submit(self, records: list[ImageRecord], vectors: np.ndarray, recon_errors: np.ndarray, /) -> None: ...


def embed_into(
    records: Iterable[ImageRecord], embedder: Embedder, writer: BatchWriter, media: MediaStore | None = None
) -> int:
    """Embeds in batches, handed to the writer in order. Meanwhile the next photos are read,
    decoded, copied into `media` (so a photo's copy is there before its point) and resized, on
    two other threads."""
    workers, threads_each = embedding_workers()
    count, batch, pixels = 0, [], []
    pending: deque[tuple[list[ImageRecord], Future]] = deque()

    def with_pixels() -> Generator[tuple[ImageRecord, torch.Tensor], None, None]:
        # Reading and decoding run on a thread of their own, ahead of this one (copying and
        # resizing): one thread doing all four kept the embedding threads waiting half the time.
        with closing(prefetched(records, depth=embedder.batch_size)) as decoded:
            for record in decoded:
                assert record.image is not None  # a record read is decoded; its pixels go with its tensor
                if media is not None and record.data is not None:
                    media.put(record.sha256, record.data, record.image, (record.width, record.height), record.format)
                yield record.without_pixels(), embedder.preprocess(record.image)

    with (
        fewer_collections(),
        torch_threads(threads_each),
        ThreadPoolExecutor(workers, thread_name_prefix="embed") as pool,
    ):
        # closing(): on an error here the reading thread stops now, not when the generator is collected
        with closing(prefetched(with_pixels(), depth=embedder.batch_size)) as ahead:
            for record, tensor in ahead:
                batch.append(record)
                pixels.append(tensor)
                if len(batch) == embedder.batch_size:
                    pending.append((batch, pool.submit(embedder.embed, torch.stack(pixels))))
                    batch, pixels = [], []
                    if len(pending) >= workers:
                        count += _hand_over(pending.popleft(), writer)
        if batch:
            pending.append((batch, pool.submit(embedder.embed, torch.stack(pixels))))
        while pending:
            count += _hand_over(pending.popleft(), writer)
    return count


def needing_embedding(
    records: Iterable[ImageRecord], writer: StoreWriter, media: MediaStore, chunk: int = 32
) -> Iterator[ImageRecord]:
    """The records whose point is not stored yet. A photo loaded before is not embedded again:
    the writer notes its place (and fills the EXIF facts its point lacks), and its media copy is
    put back if it went missing. Asked in small chunks: each waits for the writes before it,
    and holds its photos decoded."""
    pending: list[ImageRecord] = []
    for record in records:
        pending.append(record)
        if len(pending) >= chunk:
            yield from _new_ones(pending, writer, media)
            pending = []
    yield from _new_ones(pending, writer, media)


def _new_ones(records: list[ImageRecord], writer: StoreWriter, media: MediaStore) -> list[ImageRecord]:
    if not records:
        return []
    new, stored = writer.split_stored(records)
    for record in stored:
        if record.data is not None:
            assert record.image is not None  # read with its bytes, so decoded
            media.put(record.sha256, record.data, record.image, (record.width, record.height), record.format)
    return new


def _hand_over(embedded: tuple[list[ImageRecord], Future], writer: BatchWriter) -> int:
    batch, future = embedded
    writer.submit(batch, *future.result())
    return len(batch)


def stored_records(
    store: Store, collection: str, media: MediaStore, on_skip: Callable[[Skipped], None], show_progress: bool
) -> Generator[ImageRecord, None, None]:
    """Every point of a collection as a record, its picture read back from the media store;
    a point whose copy is missing is passed to on_skip (it stays in the old collection)."""
    with progress("re-embedding the collection", store.count(collection), show_progress) as bar:
        for point in store.points(collection):
            bar.advance()
            try:
                yield ImageRecord.from_payload(point.payload, media.open(point.payload["sha256"]))
            except (FileNotFoundError, ImageRejected, KeyError, NotASha256) as exc:
                on_skip(
                    Skipped(point.payload.get("path", point.id), f"kept in the old collection: no stored copy ({exc})")
                )
