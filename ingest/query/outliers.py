"""`ingest outliers`: the images the collection's autoencoder reconstructs worst.

Each point's `recon_error` (the per-image MSE of its reconstruction, stored at load time)
is high for what the model has not learnt to draw: corrupt crops, noise, pictures unlike the
rest (a non-animal among animals), often mislabelled files. Qdrant orders the points by it
(`Store.highest`, on the float payload index every collection gets).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from ingest.store import Store
from ingest.store.collections import CollectionState
from ingest.store.media import MediaStore


def find_outliers(store: Store, state: CollectionState, n: int) -> dict:
    """The JSON-ready result: the worst n, and the collection's median error to read them by."""
    records = store.highest(state.physical, "recon_error", n)
    errors = [
        float(p.payload["recon_error"])
        for p in store.points(state.physical, payload=["recon_error"])
        if "recon_error" in p.payload
    ]
    median = statistics.median(errors) if errors else None
    result = {
        "collection": state.name,
        "model_id": state.model_id,
        "points": len(errors),
        "median_recon_error": median,
        "outliers": [
            {
                "rank": rank,
                "id": str(record.id),
                "source": record.payload.get("source"),
                "path": record.payload.get("path"),
                "label": record.payload.get("label"),
                "sha256": record.payload.get("sha256"),
                "recon_error": record.payload["recon_error"],
                "times_median": record.payload["recon_error"] / median if median else None,
            }
            for rank, record in enumerate(records, 1)
        ],
    }
    return result


def format_outliers(result: dict) -> str:
    if not result["outliers"]:
        return f"collection {result['collection']!r} holds no points with a reconstruction error"
    lines = [
        f"the {len(result['outliers'])} images of {result['collection']!r} that model {result['model_id']} "
        f"reconstructs worst (median error {result['median_recon_error']:.4f} over {result['points']:,} points)",
        f"  {'rank':>4} {'error':>8} {'x median':>9}  {'label':<12} file",
    ]
    for row in result["outliers"]:
        times = f"{row['times_median']:.1f}x" if row["times_median"] else "-"
        where = f"{row['source']}:{row['path']}"
        lines.append(f"  {row['rank']:>4} {row['recon_error']:>8.4f} {times:>9}  {row['label'] or '-':<12} {where}")
    return "\n".join(lines)


def outliers_montage(media: MediaStore, result: dict, path: Path) -> None:
    """The outliers in rows of ten, worst first, each captioned with its error."""
    # Imported here: the montage code loads torch, which the text and JSON output never need.
    from ingest.query.montage import points_montage
    from ingest.query.search import Hit

    rows = result["outliers"]
    hits = [Hit(row["id"], row["recon_error"], {"sha256": row["sha256"]}) for row in rows]
    points_montage(media, hits, [f"{row['recon_error']:.4f} {row['label'] or ''}" for row in rows], path)
