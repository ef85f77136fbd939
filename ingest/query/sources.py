"""`ingest sources`: what a collection was filled from. A source is a zip or folder, named
by its full path (by its base name when an earlier version loaded it and no load has met its
files since); its photos are the points found there first, its copies the files of it whose
bytes were already stored from another place."""

from __future__ import annotations

import os
from pathlib import Path

from ingest.errors import UserError
from ingest.store import Store
from ingest.store.collections import CollectionState

LABELS_SHOWN = 4


def list_sources(store: Store, state: CollectionState) -> dict:
    """One pass over the collection's payloads (no vectors); sources by name."""
    found: dict[str, dict] = {}

    def entry(name: str) -> dict:
        return found.setdefault(name, {"source": name, "photos": 0, "copies": 0, "labels": {}, "loads": []})

    for point in store.points(state.physical, payload=["source", "label", "ingested_at", "copies"]):
        payload = point.payload
        row = entry(payload.get("source") or "?")
        row["photos"] += 1
        label = payload.get("label") or "-"
        row["labels"][label] = row["labels"].get(label, 0) + 1
        if payload.get("ingested_at"):
            row["loads"].append(payload["ingested_at"])
        for copy in payload.get("copies") or []:
            entry(copy.get("source") or "?")["copies"] += 1
    sources = []
    for row in sorted(found.values(), key=lambda r: r["source"]):
        loads = row.pop("loads")
        # ISO 8601 times in UTC, all written the same way: their order as text is their order in time.
        row["first_load"], row["last_load"] = (min(loads), max(loads)) if loads else (None, None)
        row["labels"] = dict(sorted(row["labels"].items(), key=lambda item: (-item[1], item[0])))
        sources.append(row)
    return {"collection": state.name, "sources": sources}


def format_sources(result: dict) -> str:
    rows = result["sources"]
    if not rows:
        return f"collection {result['collection']!r} holds no photos"
    width = max(len("source"), *(len(r["source"]) for r in rows))
    lines = [f"{'source':<{width}}  {'photos':>7}  {'copies':>6}  {'first load':<25} {'last load':<25} labels"]
    for r in rows:
        names = list(r["labels"])
        labels = ", ".join(names[:LABELS_SHOWN]) + (
            f" (+{len(names) - LABELS_SHOWN})" if len(names) > LABELS_SHOWN else ""
        )
        lines.append(
            f"{r['source']:<{width}}  {r['photos']:>7,}  {r['copies']:>6,}  {r['first_load'] or '-':<25} "
            f"{r['last_load'] or '-':<25} {len(names)}: {labels}"
        )
    return "\n".join(lines)


def resolve_source(store: Store, state: CollectionState, given: str) -> str:
    """The source a user means by `given`: a source's name as `ingest sources` lists it, a path
    to it (relative to here), or the base name of exactly one source."""
    names = {row["source"] for row in list_sources(store, state)["sources"]}
    if given in names:
        return given
    full = str(Path(given).expanduser().resolve())
    if full in names:
        return full
    alike = sorted(name for name in names if os.path.basename(name) == given)
    if len(alike) == 1:
        return alike[0]
    if alike:
        raise UserError(f"{len(alike)} sources are called {given}: give the full path of one ({', '.join(alike)})")
    return given  # matches nothing: the caller says so
