"""One pass of `ingest watch`: the folder scanned, and the collection brought in step with it.

A file whose size or modification time changed is read once it has settled (not written to for
SETTLE_S, and closed by its writer when events say so). Its bytes are hashed: the same bytes as
before (a touched file) change nothing; bytes the collection holds already (a file moved or
copied) are recorded as a place of their point, without decoding or embedding; other bytes are
decoded, embedded with the collection's model (the load's own path: `records`, `batches`) and
written. Then the places of files gone, or now holding other bytes, are taken away as `ingest
load --prune` does (`sync.plan`), on the points those files held only: a moved file's point
follows it to its new place, a deleted one's is forgotten.

The embedded store is held only to write, a chunk of files at a time (`open_store`, which waits
while the page or a load holds it), never while reading or embedding: the page waits at most one
interaction.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from encoder.embed import Embedder
from ingest.load.batches import embed_into
from ingest.load.reader import RawFile, Skipped, Source, label_of, read_file
from ingest.load.records import ImageRecord, point_id, read_records
from ingest.load.sync import PLACE_KEYS, apply, plan
from ingest.load.writer import StoreWriter
from ingest.settings import Settings
from ingest.store import Store, open_store
from ingest.store import collections as cols
from ingest.store.media import MediaStore, decode_picture
from ingest.watch.folder import FileState, scan
from ingest.watch.state import WatchState, known_files

SETTLE_S = 1.0  # a file written to this recently may not be complete: it waits for the next pass
CHUNK = 256  # files read, embedded and written at a time; the store is held for each chunk's write


@dataclass(frozen=True)
class Change:
    """One line of `ingest watch`: added, changed, moved, removed, skipped, or a pass's summary."""

    kind: str
    path: str
    detail: str = ""
    at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))


class CollectionMoved(Exception):
    """The collection now names another physical collection (a --retrain): start again."""


class Collected:
    """The embedding's output kept until the store is taken: what `embed_into` hands a writer."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[ImageRecord], np.ndarray, np.ndarray]] = []

    def submit(self, records: list[ImageRecord], vectors: np.ndarray, recon_errors: np.ndarray) -> None:
        self.batches.append((records, vectors, recon_errors))


class Files:
    """Files read by the watcher, as `read_records` takes a source."""

    def __init__(self, name: str, files: list[RawFile]) -> None:
        self.name, self.files = name, files

    def count(self) -> int:
        return len(self.files)

    def __iter__(self):
        return iter(self.files)


class Watcher:
    def __init__(self, folder: Path, settings: Settings, collection: str, tell: Callable[[Change], None]) -> None:
        self.folder, self.settings, self.collection, self.tell = folder.resolve(), settings, collection, tell
        self.source = Source(self.folder).name  # as `ingest load FOLDER` names it
        self.state = WatchState(settings.home, collection, self.folder)
        self.media = MediaStore(settings.media_dir)
        self.known: dict[str, FileState] = {}
        self.ids: set[str] = set()  # the collection's points
        self.physical = ""
        self.embedder: Embedder | None = None

    def store(self):
        return open_store(self.settings, on_wait=lambda: self.tell(Change("waiting", "", "the store is in use")))

    def open(self) -> bool:
        """Reads what the collection holds of the folder; False when it has no model yet."""
        with self.store() as store:
            state = cols.state(store, self.collection)
            if state is None:
                return False
            store.ensure_payload_indexes(state.physical)
            stored = {}
            for point in store.points(state.physical, payload=PLACE_KEYS):
                self.ids.add(point.id)
                for place in [point.payload, *(point.payload.get("copies") or [])]:
                    if place.get("source") == self.source:
                        stored[place.get("path")] = point.payload.get("sha256")
        self.physical = state.physical
        self.embedder = Embedder.from_file(cols.checkpoint_path(self.settings, state))
        self.known = known_files(stored, self.state.read())
        return True

    def sync(self, being_written: Callable[[str], bool] = lambda _: False, stop: threading.Event | None = None) -> bool:
        """One pass; True when files were left for the next one (still being written)."""
        started, now = time.perf_counter(), time.time()
        files = scan(self.folder)
        gone = [path for path in self.known if path not in files]
        ready, waiting = [], False
        for path, (size, mtime_ns) in sorted(files.items()):
            known = self.known.get(path)
            if known is not None and known.same_stat(size, mtime_ns):
                continue
            if now - mtime_ns / 1e9 < SETTLE_S or being_written(path):
                waiting = True
            else:
                ready.append((path, size, mtime_ns))
        tally: dict[str, int] = {}
        arrived: list[tuple[str, str, str]] = []  # (SHA-256, path, original): bytes stored already, found here
        changed: dict[str, tuple[str, str]] = {}  # path -> (the bytes' SHA-256 before, now): files that held others
        for start in range(0, len(ready), CHUNK):
            if stop is not None and stop.is_set():
                return True
            waiting |= self._load(ready[start : start + CHUNK], changed, arrived, tally)
        if gone or changed:
            self._forget(gone, changed, arrived, tally)
        for _, path, original in arrived:  # what no move took: a copy of a photo stored elsewhere
            self._told("added", path, f"same bytes as {original}", tally)
        if ready or gone:
            self.state.write(self.known)
        if tally:
            counts = ", ".join(f"{n} {kind}" for kind, n in tally.items())
            self.tell(
                Change("synced", "", f"{counts} in {time.perf_counter() - started:.1f} s ({len(self.ids):,} photos)")
            )
        return waiting

    def _load(
        self,
        chunk: list[tuple[str, int, int]],
        changed: dict[str, tuple[str, str]],
        arrived: list[tuple[str, str, str]],
        tally: dict[str, int],
    ) -> bool:
        """Reads, embeds and writes one chunk of files; True when some must be read again."""
        new: list[RawFile] = []
        stored: list[ImageRecord] = []  # files whose bytes the collection holds: only their place is used
        stats: dict[str, FileState] = {}
        for path, size, mtime_ns in chunk:
            entry = read_file(self.folder, path)
            if entry is None:
                continue  # gone since the scan: the next pass sees it gone
            if isinstance(entry, Skipped):
                self._skipped(entry, FileState(size, mtime_ns, None), tally)
                continue
            sha = hashlib.sha256(entry.data).hexdigest()
            before, stats[path] = self.known.get(path), FileState(size, mtime_ns, sha)
            if before is not None and before.sha256 == sha:
                self.known[path] = stats[path]  # touched, the same bytes
                continue
            if before is not None and before.sha256 is not None:
                changed[path] = (before.sha256, sha)
            if point_id(sha) in self.ids:
                stored.append(ImageRecord(path, self.source, label_of(path), 0, 0, "", len(entry.data), sha, None))
            else:
                new.append(entry)

        def skip(entry: Skipped) -> None:
            read = stats.pop(entry.path)
            self._skipped(entry, FileState(read.size, read.mtime_ns, None), tally)

        assert self.embedder is not None  # opened
        records = read_records(Files(self.source, new), skip, False, decode_picture)
        embedded = Collected()
        embed_into(records, self.embedder, embedded, self.media)
        if not stored and not embedded.batches:  # touched files, or none that is a photo
            self.known.update(stats)
            return False
        with self.store() as store:
            self._same_collection(store)
            writer = StoreWriter(store, self.physical, self.embedder.model_id)
            try:
                missing, _ = writer.split_stored(stored) if stored else ([], [])
                for batch in embedded.batches:
                    writer.submit(*batch)
            finally:
                counts = writer.close()
        copies = dict(counts.copies)
        for records_written, _, _ in embedded.batches:
            for record in records_written:
                self.ids.add(record.id)
                if record.path not in copies:
                    self._told("changed" if record.path in changed else "added", record.path, "", tally)
        arrived += [(r.sha256, r.path, copies[r.path]) for r in stored if r.path in copies and r.path not in changed]
        for record in stored:
            if record.path in changed:  # now the bytes of another photo of the collection
                self._told("changed", record.path, f"same bytes as {copies.get(record.path, '?')}", tally)
        self.known.update(stats)
        for record in missing:  # deleted by someone else meanwhile: read and embed it next pass
            self.ids.discard(record.id)
            self.known.pop(record.path, None)
        return bool(missing)

    def _forget(
        self,
        gone: list[str],
        changed: dict[str, tuple[str, str]],
        arrived: list[tuple[str, str, str]],
        tally: dict[str, int],
    ) -> None:
        """Takes away the places of files gone or holding other bytes now, on the points they held.
        A gone file whose bytes arrived at another path of the folder in this pass was moved."""
        gone_paths, told = set(gone), set(changed)
        for path in gone:
            came = next((a for a in arrived if a[0] == self.known[path].sha256), None)
            if came is not None:
                arrived.remove(came)
                told.add(path)
                self._told("moved", path, f"-> {came[1]}", tally)
        held = [self.known[path].sha256 for path in gone] + [before for before, _ in changed.values()]

        def is_gone(place: dict, sha: str) -> bool:
            if place.get("source") != self.source:
                return False
            path = place.get("path")
            return path in gone_paths or (path in changed and changed[path][1] != sha)

        with self.store() as store:
            self._same_collection(store)
            changes = plan(store, self.physical, is_gone, ids=sorted({point_id(sha) for sha in held if sha}))
            apply(store, self.physical, changes, self.media, self.settings)
        for here, there in changes.moved:
            if here["path"] in told:
                continue
            if there.get("source") == self.source:
                self._told("moved", here["path"], f"-> {there['path']}", tally)
            else:
                self._told("removed", here["path"], f"still in {there.get('source')}:{there.get('path')}", tally)
        for deleted in changes.deleted:
            if deleted.place.get("path") not in told:
                self._told("removed", deleted.place.get("path") or "", "", tally)
        for place in changes.dropped_copies:
            if place.get("source") == self.source and place.get("path") not in told:
                self._told("removed", place.get("path") or "", "a copy", tally)
        self.ids -= {d.id for d in changes.deleted}
        for path in gone:
            self.known.pop(path, None)

    def _skipped(self, entry: Skipped, state: FileState, tally: dict[str, int]) -> None:
        self.known[entry.path] = state
        self._told("skipped", entry.path, entry.reason, tally)

    def _told(self, kind: str, path: str, detail: str, tally: dict[str, int]) -> None:
        tally[kind] = tally.get(kind, 0) + 1
        self.tell(Change(kind, path, detail))

    def _same_collection(self, store: Store) -> None:
        state = cols.state(store, self.collection)
        if state is None or state.physical != self.physical:
            raise CollectionMoved(self.collection)
