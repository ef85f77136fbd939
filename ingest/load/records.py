"""The record of one photo, from the reader to the writer. Its fields are named as the
point's payload names them, and `payload()` is the only place that payload is built."""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import functools
import hashlib
import os
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image

from ingest.exif import FACT_FIELDS, photo_facts
from ingest.images import DecodedImage, ImageRejected
from ingest.load.reader import RawFile, Skipped
from ingest.progress import progress

# Point ids are UUIDv5 of the image's SHA-256 in this namespace: same bytes, same point.
POINT_NAMESPACE = uuid.UUID("6f1c2a4e-5b7d-4e8f-9a0b-1c2d3e4f5a6b")
# What the payload says of the file itself; the writer adds model_id, recon_error, ingested_at
# (and `copies`, the other places the same bytes were found). When, with what and where the photo
# was taken (`ingest.exif.FACT_FIELDS`) come with them, as far as the file says.
FILE_FIELDS = ("path", "source", "label", "width", "height", "format", "bytes", "sha256")
# Files at least this big are decoded on helper threads, DECODE_THREADS at a time, while the next
# ones are read: a 12-megapixel JPEG takes 40-50 ms to decode even at 1/8 of its size, and one
# thread decoding them all held a load of phone photos to 14 a second on 2 cores
# (docs/decisions.md, "Big photos"). Smaller files are decoded in their turn on the reading
# thread: for a thumbnail the hand-over would cost more than the decoding.
PARALLEL_DECODE_BYTES = 256 * 1024
# One thread per core this process may use (Pillow lets go of the GIL while it decodes), at least
# two. Past 8, a phone photo's 43 ms of decoding shared out comes below what the threads that see
# every photo spend on it one after the other (hashing 5 MB, 2.8 ms; copying and resizing, 3-4
# ms). Measured on 2 cores only; more is estimated.
DECODE_THREADS = min(
    8, max(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2)
)


def point_id(sha256: str) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, sha256))


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class ImageRecord:
    path: str  # inside the zip or folder, '/'-separated
    source: str  # the zip's or folder's name
    label: str | None  # the folder the file is in
    width: int  # of the full picture, EXIF rotation applied
    height: int
    format: str  # as recognised from the content: JPEG, PNG, ...
    bytes: int  # the file's size
    sha256: str  # of the file's bytes
    # The picture, decoded to RGB, and the file's bytes: never in the payload, and None once
    # the photo is a tensor and its copy is in the media store (`without_pixels`).
    image: Image.Image | None = field(repr=False)
    # `builtins.bytes`: in this class `bytes` names the field above.
    data: builtins.bytes | None = field(default=None, repr=False)  # also None when re-read from the media store
    facts: dict = field(default_factory=dict)  # from its EXIF: taken_at, camera, location, ... (`ingest.exif`)

    @functools.cached_property  # asked for by every stage of the load, and a UUID costs 3.5 us
    def id(self) -> str:
        return point_id(self.sha256)

    @property
    def place(self) -> dict:
        return {"source": self.source, "path": self.path}

    def without_pixels(self) -> ImageRecord:
        """The record as it waits to be embedded and written: a photo of 12 megapixels decoded
        for its media copy is 2 MB, and hundreds are in flight during a load."""
        return dataclasses.replace(self, image=None, data=None)

    def payload(self, model_id: str, recon_error: float, ingested_at: str) -> dict:
        fields = {name: getattr(self, name) for name in FILE_FIELDS}
        return {
            **fields,
            **self.facts,
            "model_id": model_id,
            "recon_error": float(recon_error),
            "ingested_at": ingested_at,
        }

    @classmethod
    def from_payload(cls, payload: dict, image: Image.Image) -> ImageRecord:
        """A stored point's record, its picture read back from the media store (--retrain); its
        EXIF facts come from the payload (a media copy may be a JPEG made without them)."""
        facts = {name: payload[name] for name in FACT_FIELDS if name in payload}
        fields: dict[str, Any] = {name: payload.get(name) for name in FILE_FIELDS}
        return cls(**fields, image=image, facts=facts)


class Entries(Protocol):
    """What read_records reads: a Source, or the files `ingest watch` read."""

    name: str

    def count(self) -> int: ...

    def __iter__(self) -> Iterator[RawFile | Skipped]: ...


def read_records(
    source: Entries,
    on_skip: Callable[[Skipped], None],
    show_progress: bool,
    decode: Callable[[bytes], DecodedImage],
) -> Generator[ImageRecord, None, None]:
    """Every usable image of the source, in the source's order, decoded by `decode` (for instance
    at a reduced scale, much faster for big photos); each unusable file is passed to on_skip."""
    with (
        progress(f"reading {source.name}", source.count(), show_progress) as bar,
        ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode") as pool,
    ):
        # Each entry with its decoding under way (a big file), or None (decoded in its turn here).
        pending: deque[tuple[RawFile | Skipped, Future | None]] = deque()
        for entry in source:
            bar.advance()
            decoding = None
            if isinstance(entry, RawFile) and len(entry.data) >= PARALLEL_DECODE_BYTES:  # a big file
                decoding = pool.submit(_decoded, entry.data, decode)
            pending.append((entry, decoding))
            while pending and (pending[0][1] is None or len(pending) > 2 * DECODE_THREADS):
                if record := _record(*pending.popleft(), source.name, decode, on_skip):
                    yield record
        while pending:
            if record := _record(*pending.popleft(), source.name, decode, on_skip):
                yield record


def _decoded(data: bytes, decode: Callable[[bytes], DecodedImage]) -> tuple[DecodedImage, str] | str:
    """The picture and the SHA-256 of its bytes, or why the bytes are not a picture. Returned, not
    raised: a Future that keeps an exception keeps its traceback, whose frames hold the file's
    bytes and the Future itself, a cycle only the garbage collector frees; a load of a zip of
    rejected files held gigabytes of them that way."""
    try:
        return decode(data), hashlib.sha256(data).hexdigest()
    except ImageRejected as exc:
        return str(exc)


def _record(
    entry: RawFile | Skipped,
    decoding: Future | None,
    source: str,
    decode: Callable[[bytes], DecodedImage],
    on_skip: Callable[[Skipped], None],
) -> ImageRecord | None:
    """The entry's record, or None once on_skip was told why not."""
    if isinstance(entry, Skipped):
        on_skip(entry)
        return None
    outcome = decoding.result() if decoding else _decoded(entry.data, decode)
    if isinstance(outcome, str):
        on_skip(Skipped(entry.path, outcome))
        return None
    decoded, sha256 = outcome
    return ImageRecord(
        path=entry.path,
        source=source,
        label=entry.label,
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        bytes=len(entry.data),
        sha256=sha256,
        image=decoded.image,
        data=entry.data,
        facts=photo_facts(decoded.exif),
    )
