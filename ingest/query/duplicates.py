"""`ingest duplicates`: groups of images that are the same picture.

Two kinds are found. Byte-identical files share one point (a point's id comes from the
hash of its bytes), which lists the other places it was found in its `copies` payload.
Near-identical images (the same picture re-encoded, resized, slightly cropped) are
separate points whose vectors almost coincide: every point asks Qdrant, in batches, for its
neighbours above the cosine threshold, and the pairs found are joined into groups
(union-find), so a chain a~b~c is one group even if a and c fall just below the threshold.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ingest.load.reader import label_of
from ingest.progress import progress
from ingest.query.neighbours import nearest_others, read_points
from ingest.store import Store
from ingest.store.collections import CollectionState
from ingest.store.media import MediaStore

# Neighbours asked per point. A bigger group is still joined whole: its members' edges overlap.
NEIGHBOURS_PER_POINT = 16
MONTAGE_GROUPS = 50
MONTAGE_PER_ROW = 12
# What a member row tells of its file: enough for the page's Duplicates tab to choose which to keep.
MEMBER_KEYS = ["path", "source", "label", "sha256", "copies", "width", "height", "bytes", "ingested_at"]


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


def find_duplicates(store: Store, state: CollectionState, threshold: float, show_progress: bool = True) -> dict:
    """The JSON-ready groups, most alike first. Each member's score is its cosine similarity
    to the group's first member (1.0 for a byte-identical copy)."""
    started = time.perf_counter()
    points = read_points(store, state.physical, MEMBER_KEYS)
    with progress(f"querying {state.name} ({len(points):,} points)", len(points), show_progress) as bar:
        neighbours = nearest_others(
            store, state.physical, points, NEIGHBOURS_PER_POINT, threshold, on_query=bar.advance
        )

    index_of = {pid: i for i, pid in enumerate(points.ids)}
    sets = DisjointSets(len(points))
    for i, found in enumerate(neighbours):
        for neighbour in found:
            if neighbour.id in index_of:  # not a point added after the read
                sets.union(i, index_of[neighbour.id])
    members: dict[int, list[int]] = {}
    for i in range(len(points)):
        members.setdefault(sets.find(i), []).append(i)

    unit = points.vectors / np.maximum(np.linalg.norm(points.vectors, axis=1, keepdims=True), 1e-12)
    groups = []
    for indices in members.values():
        copies = [c for i in indices for c in points.payloads[i].get("copies") or []]
        if len(indices) < 2 and not copies:
            continue
        # The first file (by source and path) is the reference; the others follow, most alike first.
        first = min(
            indices, key=lambda i: (points.payloads[i].get("source") or "", points.payloads[i].get("path") or "")
        )
        similarity = {i: float(unit[i] @ unit[first]) for i in indices}
        indices = [first] + sorted((i for i in indices if i != first), key=lambda i: -similarity[i])
        scores = [1.0] + [similarity[i] for i in indices[1:]]
        rows = []
        for i, score in zip(indices, scores):
            payload = points.payloads[i]
            rows.append(_member(points.ids[i], payload, payload.get("label"), float(score), None))
            for copy in payload.get("copies") or []:
                place = {**payload, "source": copy.get("source"), "path": copy.get("path")}
                rows.append(
                    _member(points.ids[i], place, label_of(copy.get("path") or ""), float(score), payload.get("path"))
                )
        groups.append({"size": len(rows), "min_score": min(r["score"] for r in rows), "members": rows})
    groups.sort(key=lambda g: (-g["min_score"], -g["size"], g["members"][0]["path"]))
    return {
        "collection": state.name,
        "model_id": state.model_id,
        "threshold": threshold,
        "points": len(points),
        "groups": groups,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _member(point_id: str, payload: dict, label: str | None, score: float, same_bytes_as: str | None) -> dict:
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
        "score": round(score, 6),
        "same_bytes_as": same_bytes_as,  # the path of the stored file with these exact bytes
    }


def format_duplicates(result: dict) -> str:
    groups = result["groups"]
    exact = sum(any(m["same_bytes_as"] for m in g["members"]) for g in groups)
    lines = [
        f"{len(groups)} groups of near-identical images among {result['points']:,} points of {result['collection']!r} "
        f"(cosine above {result['threshold']:g}; {exact} with byte-identical files) in {result['seconds']:.1f}s"
    ]
    for number, group in enumerate(groups, 1):
        lines.append(f"group {number}: {group['size']} images, lowest similarity {group['min_score']:.4f}")
        for m in group["members"]:
            how = f"same bytes as {m['same_bytes_as']}" if m["same_bytes_as"] else ""
            lines.append(f"  {m['score']:.4f}  {m['label'] or '-':<12} {m['source']}:{m['path']}  {how}".rstrip())
    return "\n".join(lines)


def duplicates_montage(media: MediaStore, result: dict, path: Path) -> int:
    """One row per group (the first MONTAGE_GROUPS groups, MONTAGE_PER_ROW images each);
    returns how many groups it shows."""
    # Imported here: the montage code loads torch, which the text and JSON output never need.
    from encoder.plots import image_grid
    from ingest.query.montage import open_hits
    from ingest.query.search import Hit

    shown = result["groups"][:MONTAGE_GROUPS]
    rows, captions = [], []
    for group in shown:
        members = group["members"][:MONTAGE_PER_ROW]
        hits = [Hit(m["id"], m["score"], {"sha256": m["sha256"]}) for m in members]
        rows.append(open_hits(media, hits))
        captions.append(
            ["same bytes" if m["same_bytes_as"] else f"{m['score']:.3f} {m['label'] or ''}" for m in members]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    image_grid(rows or [[]], captions or [[]]).save(path)
    return len(shown)
