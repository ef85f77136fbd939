"""From every point's nearest neighbours to groups of duplicates: copies of one photo, and
bursts (`bursts`), with the user's decisions (`decisions`) applied. Cheap: no store work, so
the page runs it on every interaction with the neighbours it cached.

Pairs of photos are sorted by what they are. Two photos decided "not duplicates" are never
joined. Two frames of a burst (one camera, a second or two apart) are joined as a burst, however
alike. Any other pair at least as alike as the threshold is two copies of one photo ("a shot");
a photo whose file records no time joins only the timed photo it is most like, so that a copy
without EXIF never glues two frames of a burst together. Shots are joined into bursts through
their frames; a burst lists one file of each shot, and a shot of several files is also a group of
copies of its own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ingest.load.reader import label_of
from ingest.query import bursts
from ingest.query.decisions import Decisions, place_of
from ingest.query.neighbours import Neighbour, StoredPoints
from ingest.store.media import MediaStore


class DisjointSets:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]  # path halving keeps the trees flat
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)

    def groups(self, members: list[int]) -> list[list[int]]:
        found: dict[int, list[int]] = defaultdict(list)
        for i in members:
            found[self.find(i)].append(i)
        return list(found.values())


@dataclass
class Neighbourhood:
    """What the store answered (the page caches it): the points and each one's neighbours."""

    points: StoredPoints
    neighbours: list[list[Neighbour]]
    threshold: float


def shots_and_bursts(hood: Neighbourhood, decisions: Decisions) -> tuple[list[list[int]], list[list[int]]]:
    """The points joined as copies of one photo (every point is in one shot), and the bursts, as
    lists of shots' indices."""
    points, payloads = hood.points, hood.points.payloads
    index_of = {pid: i for i, pid in enumerate(points.ids)}
    pairs: dict[tuple[int, int], float] = {}
    for i, found in enumerate(hood.neighbours):
        for neighbour in found:
            j = index_of.get(neighbour.id)  # None: a point added after the read
            if j is not None and j != i:
                key = (min(i, j), max(i, j))
                pairs[key] = max(pairs.get(key, -1.0), neighbour.score)
    copies, frames = DisjointSets(len(points)), []
    best_timed: dict[int, tuple[float, int]] = {}  # an untimed photo -> its most alike timed one
    for (i, j), score in pairs.items():
        if decisions.apart(points.ids[i], points.ids[j]):
            continue
        if bursts.is_burst_pair(payloads[i], payloads[j]):
            if score >= min(hood.threshold, bursts.BURST_MIN_SCORE):
                frames.append((i, j))
            continue
        if score < hood.threshold:
            continue
        timed_i, timed_j = bool(payloads[i].get("taken_at")), bool(payloads[j].get("taken_at"))
        if timed_i == timed_j:
            copies.union(i, j)
            continue
        untimed, timed = (j, i) if timed_i else (i, j)
        if score > best_timed.get(untimed, (-1.0, -1))[0]:
            best_timed[untimed] = (score, timed)
    for untimed, (_, timed) in best_timed.items():
        copies.union(untimed, timed)
    shots = copies.groups(list(range(len(points))))
    shot_of = {i: n for n, shot in enumerate(shots) for i in shot}
    joined, in_bursts = DisjointSets(len(shots)), set()
    for i, j in frames:
        # Frames decided "not duplicates" stay apart, whichever of their copies is alike.
        first, second = shots[shot_of[i]], shots[shot_of[j]]
        if not any(decisions.apart(points.ids[a], points.ids[b]) for a in first for b in second):
            joined.union(shot_of[i], shot_of[j])
            in_bursts |= {shot_of[i], shot_of[j]}
    return shots, [b for b in joined.groups(sorted(in_bursts)) if len(b) > 1]


def duplicate_groups(hood: Neighbourhood, decisions: Decisions, media: MediaStore | None = None) -> list[dict]:
    """Every group, JSON-ready: kind "copies" or "burst", its members (a row per file), most
    alike first (a burst: in the order taken). Decisions are not applied here beyond "not
    duplicates" (see `review`)."""
    points = hood.points
    unit = points.vectors / np.maximum(np.linalg.norm(points.vectors, axis=1, keepdims=True), 1e-12)
    shots, burst_shots = shots_and_bursts(hood, decisions)
    groups = []
    for shot in shots:
        if len(shot) > 1 or any(points.payloads[i].get("copies") for i in shot):
            groups.append(_copies_group(points, unit, shot))
    for burst in burst_shots:
        groups.append(_burst_group(points, unit, [_representative(points, shots[n]) for n in burst], media))
    groups.sort(key=lambda g: (g["kind"] != "burst", -g["min_score"], -g["size"], g["members"][0]["path"]))
    return groups


def _representative(points: StoredPoints, shot: list[int]) -> int:
    """The file of a shot that stands for it in a burst: the most pixels, then bytes."""
    payloads = points.payloads
    return max(
        shot,
        key=lambda i: (
            (payloads[i].get("width") or 0) * (payloads[i].get("height") or 0),
            payloads[i].get("bytes") or 0,
            -i,
        ),
    )


def _copies_group(points: StoredPoints, unit: np.ndarray, indices: list[int]) -> dict:
    payloads = points.payloads
    # The first file (by source and path) is the reference; the others follow, most alike first.
    first = min(indices, key=lambda i: (payloads[i].get("source") or "", payloads[i].get("path") or ""))
    similarity = {i: float(unit[i] @ unit[first]) for i in indices}
    ordered = [first] + sorted((i for i in indices if i != first), key=lambda i: -similarity[i])
    rows = []
    for i in ordered:
        payload = payloads[i]
        rows.append(member(points.ids[i], payload, payload.get("label"), similarity[i], None))
        for copy in payload.get("copies") or []:
            place = {**payload, "source": copy.get("source"), "path": copy.get("path")}
            rows.append(
                member(points.ids[i], place, label_of(copy.get("path") or ""), similarity[i], payload.get("path"))
            )
    rows[0]["score"] = 1.0
    return {"kind": "copies", "size": len(rows), "min_score": min(r["score"] for r in rows), "members": rows}


def _burst_group(points: StoredPoints, unit: np.ndarray, indices: list[int], media: MediaStore | None) -> dict:
    payloads = points.payloads
    ordered = sorted(indices, key=lambda i: (payloads[i].get("taken_at") or "", points.ids[i]))
    first = ordered[0]
    rows = [
        member(points.ids[i], payloads[i], payloads[i].get("label"), float(unit[i] @ unit[first]), None)
        for i in ordered
    ]
    rows[0]["score"] = 1.0
    for row in rows:
        row["sharpness"] = bursts.sharpness(media, row["sha256"]) if media is not None and row["sha256"] else None
    return {
        "kind": "burst",
        "size": len(rows),
        "min_score": min(r["score"] for r in rows),
        "camera": payloads[first].get("camera"),
        "taken": [rows[0]["taken_at"], rows[-1]["taken_at"]],
        "members": rows,
    }


def member(point_id: str, payload: dict, label: str | None, score: float, same_bytes_as: str | None) -> dict:
    return {
        "id": point_id,
        "source": payload.get("source"),
        "path": payload.get("path"),
        "label": label,
        "sha256": payload.get("sha256"),
        "width": payload.get("width"),
        "height": payload.get("height"),
        "bytes": payload.get("bytes"),
        "ingested_at": payload.get("ingested_at"),  # a copy's: when its stored point was loaded
        "taken_at": payload.get("taken_at"),
        "camera": payload.get("camera"),
        "score": round(score, 6),
        "same_bytes_as": same_bytes_as,  # the path of the stored file with these exact bytes
    }


def suggested_keep(group: dict) -> int:
    """Which file the product would keep: a burst's sharpest frame (then the largest), else the
    most pixels, then bytes; a tie goes to the first row (the stored file, before its copies)."""
    rows = group["members"]

    def largest(i: int) -> tuple:
        return ((rows[i].get("width") or 0) * (rows[i].get("height") or 0), rows[i].get("bytes") or 0, -i)

    if group["kind"] == "burst":
        return max(range(len(rows)), key=lambda i: (rows[i].get("sharpness") or 0.0, *largest(i)))
    return max(range(len(rows)), key=largest)


def review(groups: list[dict], decisions: Decisions, show_reviewed: bool = False) -> dict:
    """The groups to show (decided ones only when asked), each with its status, and the files
    that the decisions leave to delete: only those of decided groups."""
    shown, to_delete, reviewed = [], [], 0
    for group in groups:
        kept = decisions.covering(place_of(m) for m in group["members"])
        if kept is None:
            group.update(status="to review", keep=suggested_keep(group))
            shown.append(group)
            continue
        reviewed += 1
        keep = next(n for n, m in enumerate(group["members"]) if place_of(m) == kept.keep)
        group.update(status="kept", keep=keep)
        chosen = group["members"][keep]
        for n, row in enumerate(group["members"]):
            if n != keep:
                kept_instead = f"{chosen['source']}:{chosen['path']}"
                to_delete.append({**row, "group": reviewed, "kind": group["kind"], "kept": kept_instead})
        if show_reviewed:
            shown.append(group)
    # A file in two decided groups (a burst's frame, and the copies of that frame) is listed once.
    once = {(row["id"], row["source"], row["path"]): row for row in reversed(to_delete)}
    return {"groups": shown, "reviewed": reviewed, "to_delete": [r for r in to_delete if once[place_of(r)] is r]}
