"""`ingest duplicates`: groups of images that are the same picture, and bursts.

Two kinds of copies are found. Byte-identical files share one point (a point's id comes from the
hash of its bytes), which lists the other places it was found in its `copies` payload.
Near-identical images (the same picture re-encoded, resized, slightly cropped) are separate
points whose vectors almost coincide: every point asks Qdrant, in batches, for its neighbours
above the cosine threshold, and the pairs found are joined into groups (union-find), so a chain
a~b~c is one group even if a and c fall just below the threshold. Photos one camera took a second
or two apart are a burst, not copies (`bursts`, `grouping`). The user's decisions ("not
duplicates", "keep this one": `decisions`) are applied: decided groups are hidden unless asked
for, and only their files are listed to delete.
"""

from __future__ import annotations

import time
from pathlib import Path

from ingest.progress import progress
from ingest.query.bursts import BURST_MIN_SCORE
from ingest.query.decisions import Decisions
from ingest.query.grouping import Neighbourhood, duplicate_groups, member, review
from ingest.query.narrowing import describe
from ingest.query.neighbours import nearest_others, read_points
from ingest.store import Store, Where
from ingest.store.collections import CollectionState
from ingest.store.media import MediaStore

# Neighbours asked per point. A bigger group is still joined whole: its members' edges overlap.
NEIGHBOURS_PER_POINT = 16
MONTAGE_GROUPS = 50
MONTAGE_PER_ROW = 12
# What a member row tells of its file: enough for the page's Duplicates tab to choose which to keep.
MEMBER_KEYS = ["path", "source", "label", "sha256", "copies", "width", "height", "bytes", "ingested_at"]
MEMBER_KEYS += ["taken_at", "camera"]


def neighbourhood(
    store: Store, state: CollectionState, threshold: float, where: Where | None = None, show_progress: bool = True
) -> Neighbourhood:
    """The store's part: every point (that `where` keeps) and its nearest others, down to the
    threshold, or to a burst's lower one when some photo says which camera took it."""
    points = read_points(store, state.physical, MEMBER_KEYS, where)
    cameras = any(p.get("camera") for p in points.payloads)
    min_score = min(threshold, BURST_MIN_SCORE) if cameras else threshold
    with progress(f"querying {state.name} ({len(points):,} points)", len(points), show_progress) as bar:
        neighbours = nearest_others(
            store, state.physical, points, NEIGHBOURS_PER_POINT, min_score, on_query=bar.advance, where=where
        )
    return Neighbourhood(points, neighbours, threshold)


def find_duplicates(
    store: Store,
    state: CollectionState,
    threshold: float,
    show_progress: bool = True,
    where: Where | None = None,
    media: MediaStore | None = None,
    decisions: Decisions | None = None,
    show_reviewed: bool = False,
) -> dict:
    """The JSON-ready groups to review, most alike first (bursts before them). Each member's
    score is its cosine similarity to the group's first member (1.0 for a byte-identical copy)."""
    started = time.perf_counter()
    hood = neighbourhood(store, state, threshold, where, show_progress)
    return reviewed_groups(hood, state, decisions or Decisions(), media, show_reviewed, where, started)


def reviewed_groups(
    hood: Neighbourhood,
    state: CollectionState,
    decisions: Decisions,
    media: MediaStore | None,
    show_reviewed: bool = False,
    where: Where | None = None,
    started: float | None = None,
) -> dict:
    """The groups with the decisions applied (no store work: the page calls it on every
    interaction with a cached neighbourhood)."""
    groups = duplicate_groups(hood, decisions, media)
    reviewed = review(groups, decisions, show_reviewed)
    apart = _decided_apart(hood, decisions)
    return {
        "collection": state.name,
        "model_id": state.model_id,
        "threshold": hood.threshold,
        "points": len(hood.points),
        "filter": describe(where) if where else None,
        "groups": reviewed["groups"] + (apart if show_reviewed else []),
        "reviewed": reviewed["reviewed"] + len(apart),
        "to_delete": reviewed["to_delete"],
        "seconds": round(time.perf_counter() - started, 3) if started is not None else 0.0,
    }


def _decided_apart(hood: Neighbourhood, decisions: Decisions) -> list[dict]:
    """The photos decided "not duplicates" of each other, as groups (when reviewed ones are shown)."""
    index_of = {pid: i for i, pid in enumerate(hood.points.ids)}
    groups = []
    for ids in decisions.distinct:
        present = sorted(
            (index_of[i] for i in ids if i in index_of), key=lambda i: hood.points.payloads[i].get("path") or ""
        )
        if len(present) < 2:
            continue
        rows = [
            member(hood.points.ids[i], hood.points.payloads[i], hood.points.payloads[i].get("label"), 0.0, None)
            for i in present
        ]
        groups.append(
            {
                "kind": "copies",
                "status": "not duplicates",
                "keep": None,
                "size": len(rows),
                "min_score": 0.0,
                "members": rows,
            }
        )
    return groups


def format_duplicates(result: dict) -> str:
    groups = result["groups"]
    exact = sum(any(m["same_bytes_as"] for m in g["members"]) for g in groups)
    burst_count = sum(g.get("kind") == "burst" for g in groups)
    among = f" taken {result['filter']}" if result.get("filter") else ""
    bursts = f"; {burst_count} bursts" if burst_count else ""
    lines = [
        f"{len(groups)} groups of near-identical images among {result['points']:,} points{among} of "
        f"{result['collection']!r} (cosine above {result['threshold']:g}; {exact} with byte-identical files{bursts}) "
        f"in {result['seconds']:.1f}s"
    ]
    if result.get("reviewed"):
        deletable = len(result.get("to_delete", []))
        hidden = (
            ""
            if any(g.get("status", "to review") != "to review" for g in groups)
            else " hidden (--reviewed shows them)"
        )
        lines.append(
            f"{result['reviewed']} groups reviewed{hidden}; {deletable} files to delete (--to-delete lists them)"
        )
    for number, group in enumerate(groups, 1):
        lines.append(f"group {number}: {_heading(group)}")
        for n, m in enumerate(group["members"]):
            how = f"same bytes as {m['same_bytes_as']}" if m["same_bytes_as"] else ""
            if m.get("sharpness") is not None:
                how = f"sharpness {m['sharpness']:.1f}"
            mark = (
                {"kept": "kept", "to review": "keep?"}.get(group.get("status", ""), "")
                if n == group.get("keep")
                else ""
            )
            lines.append(
                f"  {mark:<5} {m['score']:.4f}  {m['label'] or '-':<12} {m['source']}:{m['path']}  {how}".rstrip()
            )
    return "\n".join(lines)


def _heading(group: dict) -> str:
    status = {"kept": "; reviewed: keep one", "not duplicates": "; reviewed: not duplicates"}.get(
        str(group.get("status")), ""
    )
    if group.get("kind") == "burst":
        first, last = (t.replace("T", " ") for t in group["taken"])
        return f"a burst of {group['size']} photos, {group['camera']}, {first} to {last}{status}"
    return f"{group['size']} images, lowest similarity {group['min_score']:.4f}{status}"


def format_to_delete(result: dict) -> str:
    """The files the decisions leave to delete, one `source:path` a line: the input of a script."""
    return "\n".join(f"{row['source']}:{row['path']}" for row in result["to_delete"])


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
