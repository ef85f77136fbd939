"""`ingest outliers`: the images the collection's autoencoder reconstructs worst.

Each point's `recon_error` (the per-image MSE of its reconstruction, stored at load time)
is high for what the model has not learnt to draw: corrupt crops, noise, pictures unlike the
rest (a non-animal among animals), often mislabelled files. Qdrant orders the points by it
(`scroll` with `order_by`); a server needs the float payload index that `store.create` makes.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from qdrant_client import QdrantClient, models

from ingest import store
from ingest.media import MediaStore
from ingest.neighbours import SCROLL_PAGE


def worst_reconstructed(client: QdrantClient, state: store.CollectionState, n: int) -> list[models.Record]:
    """The n points with the highest reconstruction error, worst first."""
    records, _ = client.scroll(
        state.physical,
        limit=n,
        order_by=models.OrderBy(key="recon_error", direction=models.Direction.DESC),
        with_payload=True,
    )
    return records


def recon_errors(client: QdrantClient, state: store.CollectionState) -> list[float]:
    """Every point's reconstruction error: the scale an outlier's error is read against."""
    errors: list[float] = []
    offset = None
    while True:
        page, offset = client.scroll(state.physical, limit=SCROLL_PAGE, offset=offset, with_payload=["recon_error"])
        errors += [float(p.payload["recon_error"]) for p in page if p.payload and "recon_error" in p.payload]
        if offset is None:
            return errors


def find_outliers(client: QdrantClient, state: store.CollectionState, n: int) -> dict:
    """The JSON-ready result: the worst n, and the collection's median error to read them by."""
    records = worst_reconstructed(client, state, n)
    errors = recon_errors(client, state)
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
        lines.append(
            f"  {row['rank']:>4} {row['recon_error']:>8.4f} {times:>9}  {row['label'] or '-':<12} {row['source']}:{row['path']}"
        )
    return "\n".join(lines)


def outliers_montage(media: MediaStore, result: dict, path: Path) -> None:
    """The outliers in rows of ten, worst first, each captioned with its error."""
    # Imported here: the montage code loads torch, which the text and JSON output never need.
    from ingest.montage import points_montage
    from ingest.search import Hit

    rows = result["outliers"]
    hits = [Hit(row["id"], row["recon_error"], {"sha256": row["sha256"]}) for row in rows]
    points_montage(media, hits, [f"{row['recon_error']:.4f} {row['label'] or ''}" for row in rows], path)
