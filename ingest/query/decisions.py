"""Duplicate decisions, made once: "not duplicates" (a pair, or a whole group) and "keep this
one" (a group), kept in the data directory, `duplicate-decisions.json`, per collection.

A decision names photos by point id (the SHA-256 of their bytes: it survives reloads, moves,
`--retrain` and `ingest migrate`) and, for "keep", by place too (source and path), since
byte-identical files are one point found at several places. The file is replaced as a whole by
an atomic rename, under a lock, so the page and `ingest duplicates` can both write it and a crash
leaves the old version or the new one.

How groups meet decisions (`ingest.query.grouping`): two photos decided "not duplicates" are
never joined; a group every file of which was decided together with one kept is "reviewed", and
hidden unless asked for; a group that gained a file since is shown again.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import UserError
from ingest.store.manifest import write_json_atomically

FORMAT = "cbir-duplicate-decisions/1"
FILE_NAME = "duplicate-decisions.json"
# A file: (point id, source, path). Byte-identical copies are one point at several places.
Place = tuple[str, str, str]


@dataclass(frozen=True)
class Kept:
    keep: Place
    members: frozenset[Place]  # the whole group as it was decided, `keep` included
    kind: str  # "copies" or "burst"
    at: str


@dataclass(frozen=True)
class Decisions:
    distinct: tuple[frozenset[str], ...] = ()  # point ids, none a duplicate of another
    kept: tuple[Kept, ...] = ()

    def apart(self, a: str, b: str) -> bool:
        """Whether two photos were decided "not duplicates"."""
        return a != b and any(a in ids and b in ids for ids in self.distinct)

    def covering(self, places: Iterable[Place]) -> Kept | None:
        """The "keep" decision that covers every one of these files, keeping one of them."""
        wanted = set(places)
        return next((k for k in reversed(self.kept) if wanted <= k.members and k.keep in wanted), None)


def place_of(member: dict) -> Place:
    return member["id"], member.get("source") or "", member.get("path") or ""


def _place_json(place: Place) -> dict:
    return {"id": place[0], "source": place[1], "path": place[2]}


def _place(row: dict) -> Place:
    return str(row["id"]), str(row.get("source") or ""), str(row.get("path") or "")


class DecisionBook:
    """The decisions of one collection in a data directory."""

    def __init__(self, home: Path, collection: str) -> None:
        self.path = home / FILE_NAME
        self.collection = collection

    def read(self) -> Decisions:
        entry = self._all().get(self.collection, {})
        kept = tuple(
            Kept(
                _place(k["keep"]), frozenset(_place(m) for m in k["members"]), k.get("kind", "copies"), k.get("at", "")
            )
            for k in entry.get("kept", [])
        )
        return Decisions(tuple(frozenset(ids) for ids in entry.get("distinct", [])), kept)

    def not_duplicates(self, ids: Iterable[str]) -> None:
        """These photos (a pair, or a group) are not duplicates of each other; a "keep" decision
        about any two of them no longer holds."""
        chosen = sorted(set(ids))
        if len(chosen) < 2:
            return
        with self._changing() as entry:
            entry["kept"] = [k for k in entry["kept"] if len({m["id"] for m in k["members"]} & set(chosen)) < 2]
            entry["distinct"].append(chosen)

    def keep(self, keep: Place, members: Iterable[Place], kind: str) -> None:
        """Keep `keep` of this group; a decision about any of its files made before is replaced."""
        group = set(members) | {keep}
        ids = {place[0] for place in group}
        with self._changing() as entry:
            entry["kept"] = [k for k in entry["kept"] if not {_place(m) for m in k["members"]} & group]
            entry["distinct"] = [d for d in entry["distinct"] if len(set(d) & ids) < 2]
            entry["kept"].append(
                {
                    "keep": _place_json(keep),
                    "members": [_place_json(p) for p in sorted(group)],
                    "kind": kind,
                    "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )

    def forget(self, ids: Iterable[str]) -> int:
        """Every decision about any of these photos is dropped (they are reviewed again); how many."""
        gone = set(ids)
        with self._changing() as entry:
            before = len(entry["kept"]) + len(entry["distinct"])
            entry["kept"] = [k for k in entry["kept"] if not {m["id"] for m in k["members"]} & gone]
            entry["distinct"] = [d for d in entry["distinct"] if not set(d) & gone]
            return before - len(entry["kept"]) - len(entry["distinct"])

    def _all(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        if data.get("format") != FORMAT:
            raise ValueError(f"{self.path} is not a {FORMAT} file")
        return data.get("collections", {})

    @contextmanager
    def _changing(self) -> Iterator[dict]:
        """This collection's entry, written back when the block ends (under the lock)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{FILE_NAME}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            collections = self._all()
            entry = collections.setdefault(self.collection, {})
            entry.setdefault("distinct", [])
            entry.setdefault("kept", [])
            yield entry
            write_json_atomically(self.path, {"format": FORMAT, "collections": collections})


def find_member(groups: list[dict], given: str) -> tuple[dict, dict]:
    """The group and the file that `given` names: a point id, `source:path` as `ingest
    duplicates` prints it, or a path found once."""
    matches = [
        (group, m)
        for group in groups
        for m in group["members"]
        if given in (m["id"], f"{m['source']}:{m['path']}", m["path"])
    ]
    if not matches:
        raise UserError(
            f"{given!r} is in no group of duplicates at this threshold: give a file as `ingest duplicates` "
            "prints it (source:path)"
        )
    places = {place_of(m) for _, m in matches}
    if len(places) > 1 and given not in {m["id"] for _, m in matches}:
        raise UserError(f"{given!r} names {len(places)} files: give it as source:path")
    return matches[0]


def decide(book: DecisionBook, groups: list[dict], keep: str | None, apart: list[str], undo: list[str]) -> list[str]:
    """The user's decisions from the command line, made against these groups (every group,
    reviewed ones too); one line for each, saying what was recorded."""
    said = []
    for given in undo:
        _, found = find_member(groups, given)
        said.append(f"forgot {book.forget([found['id']])} decisions about {found['source']}:{found['path']}")
    if apart:
        named = [find_member(groups, given) for given in apart]
        ids = (
            {m["id"] for group, _ in named for m in group["members"]}
            if len(named) == 1
            else {m["id"] for _, m in named}
        )
        book.not_duplicates(ids)
        said.append(f"recorded: {len(ids)} photos are not duplicates of each other")
    if keep:
        group, found = find_member(groups, keep)
        book.keep(place_of(found), [place_of(m) for m in group["members"]], group.get("kind", "copies"))
        said.append(
            f"recorded: keep {found['source']}:{found['path']}, the other {len(group['members']) - 1} files of its "
            "group may be deleted"
        )
    return said
