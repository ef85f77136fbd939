"""Keeping a collection in step with the files: `ingest load --prune` and `ingest remove`.

A point is one picture (its bytes) found at one or more places: its `source` and `path`,
and the other places in `copies`. Both commands take places away, the same way: a point
that still has a place moves there (a photo moved inside a folder, or still present in
another source, stays searchable), a point with none left is deleted, and a media copy
that no point of any collection of any store of the data directory uses any more is deleted
after it (`store.media_users`). The user's files are only ever read.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ingest.load.reader import RawFile, Source, label_of
from ingest.progress import progress
from ingest.settings import Settings
from ingest.store import Record, Store
from ingest.store.media import MediaStore
from ingest.store.media_users import unused_media

PLACE_KEYS = ["source", "path", "copies", "sha256"]
RETRIEVE_CHUNK = 1000

# Whether a place (a {source, path} dict) of the point with this SHA-256 is taken away.
Gone = Callable[[dict, str], bool]


@dataclass(frozen=True)
class Deleted:
    id: str
    sha256: str
    place: dict  # where the point was ({source, path})


@dataclass
class Changes:
    """What taking places away does to a collection, worked out before anything is written."""

    deleted: list[Deleted] = field(default_factory=list)
    moved: list[tuple[dict, dict]] = field(default_factory=list)  # (place gone, place it moves to)
    dropped_copies: list[dict] = field(default_factory=list)  # places forgotten from `copies`
    updates: dict[str, dict] = field(default_factory=dict)  # point id -> payload fields to set

    def __bool__(self) -> bool:
        return bool(self.deleted or self.updates)


@dataclass
class Applied:
    """Counts of what was done, for the summary and --json."""

    added: int = 0  # new points of the load (--prune only)
    moved: int = 0
    removed: int = 0
    dropped_copies: int = 0
    media_deleted: int = 0
    media_kept_because: str | None = None  # every copy kept: a store of the data directory could not be asked

    def to_json(self, removal: bool = False) -> dict:
        return {
            **({} if removal else {"added": self.added}),
            "moved": self.moved,
            "removed": self.removed,
            "copies_dropped": self.dropped_copies,
            "media_deleted": self.media_deleted,
            "media_kept_because": self.media_kept_because,
        }


def plan(store: Store, collection: str, gone: Gone, ids: list[str] | None = None) -> Changes:
    """Every point is read (its places only): a place of one source can be any point's copy.
    With `ids`, only those points (`ingest watch` knows which bytes each gone file held)."""
    changes = Changes()
    points: Iterable[Record]
    if ids is None:
        points = store.points(collection, payload=PLACE_KEYS)
    else:
        points = [
            r
            for i in range(0, len(ids), RETRIEVE_CHUNK)
            for r in store.retrieve(collection, ids[i : i + RETRIEVE_CHUNK], payload=PLACE_KEYS)
        ]
    for point in points:
        payload, sha = point.payload, point.payload.get("sha256") or ""
        here = {"source": payload.get("source"), "path": payload.get("path")}
        copies = payload.get("copies") or []
        left = [c for c in copies if not gone(c, sha)]
        dropped = [c for c in copies if gone(c, sha)]
        if not gone(here, sha):
            if dropped:
                changes.updates[point.id] = {"copies": left}
                changes.dropped_copies += dropped
        elif not left:
            changes.deleted.append(Deleted(point.id, sha, here))
            changes.dropped_copies += dropped
        else:
            # A copy in the same source first: that is a file moved (or renamed) in place.
            new = next((c for c in left if c.get("source") == here["source"]), left[0])
            rest = [c for c in left if c is not new]
            changes.updates[point.id] = {**new, "label": label_of(new.get("path") or ""), "copies": rest}
            changes.moved.append((here, new))
            changes.dropped_copies += dropped
    changes.deleted.sort(key=lambda d: _order(d.place))  # listed by place, not by point id
    changes.moved.sort(key=lambda move: _order(move[0]))
    changes.dropped_copies.sort(key=_order)
    return changes


def _order(place: dict) -> tuple[str, str]:
    return place.get("source") or "", place.get("path") or ""


def apply(store: Store, collection: str, changes: Changes, media: MediaStore, settings: Settings) -> Applied:
    """Points first, media copies last: an interruption never leaves a point without its picture."""
    for pid, fields in changes.updates.items():
        store.set_payload(collection, [pid], fields)
    ids = [d.id for d in changes.deleted]
    for start in range(0, len(ids), RETRIEVE_CHUNK):
        store.delete(collection, ids[start : start + RETRIEVE_CHUNK])
    unused = unused_media(store, settings, [d.sha256 for d in changes.deleted if d.sha256])
    return Applied(
        moved=len(changes.moved),
        removed=len(changes.deleted),
        dropped_copies=len(changes.dropped_copies),
        media_deleted=sum(media.delete(sha) for sha in unused.shas),
        media_kept_because=unused.kept_because,
    )


def source_entries(source: Source, show_progress: bool = False) -> dict[str, str | None]:
    """Each file of the source -> the SHA-256 of its bytes; None for one that is there but
    cannot be read now (it keeps its points: a passing read error must not delete photos).
    Files are read and hashed, never decoded."""
    entries: dict[str, str | None] = {}
    with progress(f"checking {source.name} for files gone", source.count(), show_progress) as bar:
        for entry in source:
            entries[entry.path] = hashlib.sha256(entry.data).hexdigest() if isinstance(entry, RawFile) else None
            bar.advance()
    return entries


def prune(
    store: Store,
    collection: str,
    source: Source,
    media: MediaStore,
    settings: Settings,
    added: int,
    show_progress: bool = False,
) -> Applied:
    """After a load: take away the places of this source whose file is gone or now holds
    other bytes. Places in other sources are not checked (their files may be elsewhere)."""
    entries = source_entries(source, show_progress)

    def gone(place: dict, sha: str) -> bool:
        if place.get("source") != source.name:
            return False
        found = entries.get(place.get("path") or "", "")
        return found is not None and found != sha

    applied = apply(store, collection, plan(store, collection, gone), media, settings)
    applied.added = added
    return applied


def matching(source: str | None, glob: str | None) -> Gone:
    """`ingest remove`: the places of a source, and/or whose path matches a glob (fnmatch,
    case-sensitive; `*` also crosses '/')."""

    def gone(place: dict, sha: str) -> bool:
        if source is not None and place.get("source") != source:
            return False
        return glob is None or fnmatch.fnmatchcase(place.get("path") or "", glob)

    return gone
