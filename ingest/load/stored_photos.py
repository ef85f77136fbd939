"""A collection's photos as the data directory keeps them: every point's payload, read from the
store at once, and its picture from the media store. What `ingest train` trains on and
re-embeds: the zips and folders the photos came from may be gone, and photos loaded after the
model was trained are there too.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from encoder.checkpoint import TransformSpec
from encoder.transforms import fixed_transform
from ingest.images import ImageRejected, decode
from ingest.load.reader import Skipped
from ingest.load.records import DECODE_THREADS, ImageRecord
from ingest.load.training import EXAMPLES, MAX_TRAIN_BYTES, MAX_TRAIN_IMAGES
from ingest.progress import progress
from ingest.store import Store
from ingest.store.media import MediaStore


@dataclass
class Snapshot:
    """The points of a physical collection at one moment: ids and payloads, no vectors."""

    physical: str
    ids: list[str]
    payloads: list[dict]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def fingerprint(self) -> str:
        """Of the photos' bytes (their SHA-256s), in no particular order: the same photos, the same fingerprint."""
        digests = sorted(p.get("sha256", "") for p in self.payloads)
        return hashlib.sha256("".join(digests).encode()).hexdigest()[:16]


def snapshot(store: Store, physical: str) -> Snapshot:
    ids, payloads = [], []
    for point in store.points(physical):
        ids.append(point.id)
        payloads.append(point.payload)
    return Snapshot(physical, ids, payloads)


def _place(payload: dict) -> str:
    return payload.get("path") or payload.get("sha256", "?")


def training_images(
    photos: Snapshot,
    media: MediaStore,
    spec: TransformSpec,
    on_skip: Callable[[Skipped], None],
    show_progress: bool,
    examples: list[bytes],
) -> torch.Tensor:
    """A uniform sample of at most MAX_TRAIN_IMAGES (and MAX_TRAIN_BYTES) of the photos, read from
    their media copies and put through the fixed transform, as a load's training reads its zip
    (`training.training_images`). A photo without a copy is passed to on_skip. `examples` receives
    the bytes of the first EXAMPLES copies read, to time reading them all again."""
    side = spec.image_size
    most = min(MAX_TRAIN_IMAGES, MAX_TRAIN_BYTES // (3 * side**2), len(photos))
    chosen = sorted(random.Random(0).sample(range(len(photos)), most))
    sample = torch.empty(most, 3, side, side, dtype=torch.uint8)
    kept = 0

    def place(payload: dict, pixels: Future) -> None:
        nonlocal kept
        try:
            data, sample[kept] = pixels.result()
        except (OSError, KeyError, ImageRejected) as exc:
            on_skip(Skipped(_place(payload), f"not trained on: no usable stored copy ({exc})"))
            return
        kept += 1
        if len(examples) < EXAMPLES:
            examples.append(data)

    def read(payload: dict) -> tuple[bytes, torch.Tensor]:
        data = media.path_for(payload["sha256"]).read_bytes()
        return data, fixed_transform(decode(data, target_side=side).image, spec)

    with (
        progress("reading the collection's photos", most, show_progress) as bar,
        ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode") as pool,
    ):
        pending: deque[tuple[dict, Future]] = deque()
        for index in chosen:
            bar.advance()
            pending.append((photos.payloads[index], pool.submit(read, photos.payloads[index])))
            while len(pending) > 2 * DECODE_THREADS:
                place(*pending.popleft())
        while pending:
            place(*pending.popleft())
    return sample[:kept]


def records(
    photos: Snapshot, media: MediaStore, on_skip: Callable[[Skipped], None], show_progress: bool
) -> Generator[ImageRecord, None, None]:
    """Every photo as a record, its picture read back from the media store (as --retrain reads
    them); a photo whose copy is missing or unreadable is passed to on_skip."""
    with progress("re-embedding the collection", len(photos), show_progress) as bar:
        for payload in photos.payloads:
            bar.advance()
            try:
                yield ImageRecord.from_payload(payload, media.open(payload["sha256"]))
            except (OSError, ImageRejected, KeyError) as exc:
                on_skip(Skipped(_place(payload), f"kept in the old collection: no stored copy ({exc})"))


class Embedded:
    """Where `batches.embed_into` hands its batches when nothing is written yet: each photo's
    vector and reconstruction error, by point id."""

    def __init__(self) -> None:
        self.vectors: dict[str, tuple[np.ndarray, float]] = {}
        self.tried: set[str] = set()  # every photo read for it, embedded or told as skipped

    def submit(self, batch: list[ImageRecord], vectors: np.ndarray, recon_errors: np.ndarray) -> None:
        for record, vector, error in zip(batch, vectors, recon_errors):
            self.vectors[record.id] = (vector, float(error))
