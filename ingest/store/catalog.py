"""The catalog: every point's payload, and each collection's description, kept beside the
embedded store, so that a collection whose files are damaged can be rebuilt from the media copies
and its model without the original zips (`ingest repair`), and a damaged manifest from what is
on disk.

Per collection, in `<store>/catalog/`:

    <name>.json   its dimension, metadata and segments, and when an alias last moved to it
                  (replaced by an atomic rename, as the manifest is)
    <name>.log    every write of its points, in order: one frame per batch (upserts with their
                  payloads, payload changes, deletions), each frame a length, a CRC-32 and the
                  batch as zlib-compressed JSON

Replayed, the log gives each point's payload. Frames are appended before the store applies the
batch: after a crash the catalog may hold a point the store does not (a load run again adds it),
never the reverse. A crash can tear only the last frame; the next append cuts it off first, and a
reader stops at it. No vectors: they come back from the media copies through the model, which
keeps the catalog at about a tenth of the store (docs/benchmarks.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.store.manifest import write_json_atomically

MAGIC = b"cbir-catalog/1\n"
_FRAME = struct.Struct(">II")  # length of the compressed batch, its CRC-32


@dataclass
class Replayed:
    payloads: dict[str, dict]  # point id -> payload, as the last write left it
    damaged_bytes: int = 0  # in frames that fail their CRC or do not decode (the disk's damage)
    torn_bytes: int = 0  # a last frame cut short by a crash while it was written: harmless


class Catalog:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._checked: set[str] = set()  # logs whose tail this process has checked before appending

    # The collections' descriptions.
    def describe(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def names(self) -> list[str]:
        return sorted(p.name.removesuffix(".json") for p in self.root.glob("*.json")) if self.root.is_dir() else []

    def description(self, name: str) -> dict | None:
        """The description written with the collection; None when it has none or it is unreadable."""
        try:
            data = json.loads(self.describe(name).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("dim"), int) else None

    def write_description(self, name: str, dim: int, metadata: dict, segments: int | None, **extra) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        old = self.description(name) or {}
        entry = {**old, "dim": dim, "metadata": metadata, "segments": segments, **extra}
        write_json_atomically(self.describe(name), entry)

    def aliased(self, name: str, alias: str) -> None:
        """Record that `alias` now names this collection: a rebuilt manifest gives each alias
        the collection it moved to last."""
        old = self.description(name)
        if old is not None:
            now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
            self.write_description(name, old["dim"], old["metadata"], old.get("segments"), alias=alias, aliased_at=now)

    def drop(self, name: str) -> None:
        for path in (self.describe(name), self.log(name)):
            path.unlink(missing_ok=True)
        self._checked.discard(name)

    # The points.
    def upserted(self, name: str, payloads: dict[str, dict]) -> None:
        self._append(name, {"upsert": payloads})

    def payload_set(self, name: str, ids: Sequence[str], payload: dict) -> None:
        self._append(name, {"set": {"ids": list(ids), "payload": payload}})

    def deleted(self, name: str, ids: Sequence[str]) -> None:
        self._append(name, {"delete": list(ids)})

    def has_log(self, name: str) -> bool:
        return self.log(name).is_file()

    def replay(self, name: str) -> Replayed:
        """Every point's payload; FileNotFoundError when the collection has no log."""
        payloads: dict[str, dict] = {}
        with open(self.log(name), "rb") as f:
            data = f.read()
        frames, damaged, torn = _frames(data)
        for batch in frames:
            if "upsert" in batch:
                payloads.update(batch["upsert"])
            elif "set" in batch:
                for pid in batch["set"]["ids"]:
                    if pid in payloads:
                        payloads[pid].update(batch["set"]["payload"])
            else:
                for pid in batch["delete"]:
                    payloads.pop(pid, None)
        return Replayed(payloads, damaged, torn)

    def rewrite(self, name: str, payloads: dict[str, dict], per_frame: int = 1000) -> None:
        """The log replaced by one holding just these points (repair writes it, compacted)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.log(name).with_name(f".{name}.log.{os.getpid()}.tmp")
        ids = list(payloads)
        with open(tmp, "wb") as f:
            f.write(MAGIC)
            for start in range(0, len(ids), per_frame):
                f.write(_frame({"upsert": {pid: payloads[pid] for pid in ids[start : start + per_frame]}}))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.log(name))
        self._checked.add(name)

    def sync(self) -> None:
        """Make every log written so far durable (the store's flush and close call it)."""
        for name in self._checked:
            try:
                fd = os.open(self.log(name), os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _append(self, name: str, batch: dict) -> None:
        path = self.log(name)
        if name not in self._checked:
            self.root.mkdir(parents=True, exist_ok=True)
            _cut_torn_tail(path)
            self._checked.add(name)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size == 0:
                os.write(fd, MAGIC)
            os.write(fd, _frame(batch))
        finally:
            os.close(fd)


def _frame(batch: dict) -> bytes:
    body = zlib.compress(json.dumps(batch, separators=(",", ":")).encode(), 1)  # the fastest level: a load writes it
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


def _scan(data: bytes) -> tuple[list[tuple[int, int, bool]], int]:
    """Each whole frame as (start of its body, its length, whether its CRC holds), and where the
    last whole frame ends: after it, at most a frame that a crash tore while it was written.
    Nothing is whole in a file that does not start as a log."""
    if not data.startswith(MAGIC):
        return [], 0
    frames, at = [], len(MAGIC)
    while at + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, at)
        body_at = at + _FRAME.size
        if body_at + length > len(data):
            break
        frames.append((body_at, length, zlib.crc32(data[body_at : body_at + length]) == crc))
        at = body_at + length
    return frames, at


def _frames(data: bytes) -> tuple[list[dict], int, int]:
    """The batches of the log's sound frames; the bytes of damaged ones (skipped: the frames
    after them still count), or of the whole file when it is not a log; the bytes of a torn end."""
    scanned, end = _scan(data)
    if end == 0:
        return [], len(data), 0
    batches, damaged = [], 0
    for body_at, length, sound in scanned:
        try:
            if not sound:
                raise ValueError("CRC mismatch")
            batches.append(json.loads(zlib.decompress(data[body_at : body_at + length])))
        except (ValueError, zlib.error):
            damaged += _FRAME.size + length
    return batches, damaged, len(data) - end


def _cut_torn_tail(path: Path) -> None:
    """Before this process appends: drop a frame that a crash left half-written at the end. A
    file that is not a log at all is moved aside (`ingest check` reports it), not appended to."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    _, end = _scan(data)
    if end == 0 and data:
        os.replace(path, path.with_name(path.name + ".damaged"))
    elif end < len(data):
        os.truncate(path, end)
