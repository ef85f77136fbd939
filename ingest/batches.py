"""Embedding images in batches and handing them to the Qdrant writer: the shared middle of a
load and of a --retrain's re-embedding of the old collection."""

from __future__ import annotations

import torch

from encoder.embed import Embedder
from ingest.images import ImageRejected
from ingest.media import MediaStore
from ingest.progress import progress_bar
from ingest.reader import Skipped
from ingest.writer import Prepared, QdrantWriter

BATCH = 256


def write_batches(items, embedder: Embedder, media: MediaStore, writer: QdrantWriter, store_media: bool) -> int:
    """items: (fields, RGB image). Embeds in batches; the media file goes down before its point."""
    count, batch, tensors = 0, [], []
    for fields, image in items:
        data = fields.pop("data", None)
        if store_media:
            media.put(fields["sha256"], data, image)
        batch.append(fields)
        tensors.append(embedder.preprocess(image))
        if len(batch) == BATCH:
            count += _flush(batch, tensors, embedder, writer)
            batch, tensors = [], []
    if batch:
        count += _flush(batch, tensors, embedder, writer)
    return count


def _flush(batch: list[dict], tensors: list[torch.Tensor], embedder: Embedder, writer: QdrantWriter) -> int:
    vectors, errors = embedder.embed(torch.stack(tensors))
    writer.submit([Prepared(vector=v, recon_error=float(e), **f) for f, v, e in zip(batch, vectors, errors)])
    return len(batch)


def carry_over(client, old_physical: str, embedder: Embedder, media: MediaStore, writer: QdrantWriter, on_skip, show_progress: bool) -> int:
    """Re-embed every point of the old collection from the media store, keeping its payload."""
    keys = ("sha256", "path", "source", "label", "width", "height", "format")

    def items():
        offset = None
        with progress_bar("re-embedding the collection", client.count(old_physical).count, show_progress) as advance:
            while True:
                points, offset = client.scroll(old_physical, limit=BATCH, offset=offset, with_payload=True)
                for p in points:
                    advance()
                    payload = p.payload or {}
                    try:
                        image = media.open(payload["sha256"])
                    except (FileNotFoundError, ImageRejected, KeyError) as exc:
                        on_skip(Skipped(payload.get("path", str(p.id)), f"kept in the old collection: no stored copy ({exc})"))
                        continue
                    fields = {k: payload.get(k) for k in keys}
                    fields["nbytes"] = payload.get("bytes", 0)
                    yield fields, image
                if offset is None:
                    return

    return write_batches(items(), embedder, media, writer, store_media=False)
