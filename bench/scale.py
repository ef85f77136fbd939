"""How the embedded store scales: N points into a fresh Qdrant Edge store, then the searches the
product makes, and qdrant-client's local mode (the earlier embedded store) beside it at the sizes
where it finishes in reasonable time. Prints JSON.

Vectors are synthetic, shaped like the encoder's: unit vectors (256-d) drawn around 600 cluster
centres (6 labels x 100 modes), so that neighbours are as close as real photos' (median cosine of
a point to its nearest other about 0.8) and an HNSW graph meets the structure it would meet in a
real collection. The payload has every field `ingest load` writes, the same sizes, EXIF's too
(dates over five years, six cameras, positions). Searches are timed plain, by label, and by the
date a photo was taken (a month, a year: `taken_at`'s datetime index).

Edge's writes are timed twice: alone (`upsert_points_per_s`, the engine's write rate), and as
the product writes, building HNSW graphs beside the writes (`upsert_points_per_s_while_indexing`;
`written_and_indexed_s` is that fill plus the index built at its end). Searches are scored
against numpy's exact top 10 (`search_recall_at_10`).

    python -m bench.scale --points 100000 [--local-mode-max 20000] [--load-photos 50000]

With --load-photos N it also times `ingest load` of an N-photo zip with an already trained model
(the end-to-end rate: read, decode, copy, embed, write). The zip is made from the data set
cifar10-animals.zip (bench/datasets.py): each of its 6,000 photos, then mirrored, rotated by 90,
180 and 270 degrees, and so on with a shifted crop, re-encoded as JPEG (quality 90), so every
file has distinct bytes. The model is the default architecture, trained for one epoch on the
bundled sample (the rate does not depend on how well it was trained).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from bench.load_rate import load_rate
from bench.machine import machine
from ingest.query.evaluate import evaluate
from ingest.store import Point, Store, Where, edge_indexing
from ingest.store.client import ClientStore
from ingest.store.collections import CollectionState
from ingest.store.edge import EdgeStore

DIM, BATCH, LABELS = 256, 256, ("bird", "cat", "deer", "dog", "frog", "horse")


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(LABELS) * 100, DIM)).astype(np.float32)
    which = rng.integers(0, len(centres), n)
    vectors = centres[which] / np.sqrt(DIM) + rng.standard_normal((n, DIM)).astype(np.float32) * 0.045
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, [LABELS[c % len(LABELS)] for c in which]


# A library's EXIF as a load stores it (`ingest.exif`): dates spread over five years, a few
# cameras, a position on a third of the photos, and a tenth with no EXIF at all (scans, screenshots).
CAMERAS = ("Apple iPhone 13", "Apple iPhone 15 Pro", "Canon EOS R5", "NIKON D750", "samsung SM-G991B", "Pixel 8")
FIRST_DAY, DAYS = np.datetime64("2021-01-01T00:00:00"), 5 * 365


def payload(i: int, label: str) -> dict:
    facts: dict = {"taken_from": "none"}
    if i % 10:
        seconds = (i * 7_919_773) % (DAYS * 86_400)  # spread evenly, not in load order
        facts = {
            "taken_at": str(FIRST_DAY + np.timedelta64(seconds, "s")),
            "taken_offset": "+02:00",
            "taken_from": "DateTimeOriginal",
            "camera": CAMERAS[i % len(CAMERAS)],
            "camera_make": CAMERAS[i % len(CAMERAS)].split()[0],
            "camera_model": CAMERAS[i % len(CAMERAS)].split(" ", 1)[1],
        }
        if i % 3 == 0:
            facts["location"] = {"lat": 40 + (i % 1000) / 100, "lon": -5 + (i % 777) / 50}
    return {
        "path": f"photos/{label}/{i:06d}.jpg",
        "source": "bench.zip",
        "label": label,
        "width": 500,
        "height": 375,
        "format": "JPEG",
        "bytes": 48_213,
        "sha256": f"{i:064x}",
        **facts,
        "model_id": "0" * 16,
        "recon_error": 0.01 + (i % 997) / 1e4,
        "ingested_at": "2026-11-25T10:00:00+00:00",
    }


# The date ranges searched: a month (about 1.5% of the points) and a year (18%), on the camera's clock.
MONTH = Where(taken_after="2023-06-01T00:00:00", taken_before="2023-07-01T00:00:00")
YEAR = Where(taken_after="2022-01-01T00:00:00", taken_before="2023-01-01T00:00:00")


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return round(statistics.median(ordered), 3), round(ordered[int(0.95 * (len(ordered) - 1))], 3)


def timed_ms(calls) -> list[float]:
    out = []
    for call in calls:
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def fill(store: Store, name: str, vectors: np.ndarray, labels: list[str]) -> float:
    """Upsert every point in batches, as a load does; the seconds it took."""
    n = len(vectors)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(n)]
    store.create_collection(name, DIM, {"model_id": "bench"})
    started = time.perf_counter()
    for i in range(0, n, BATCH):
        store.upsert(name, [Point(ids[j], vectors[j], payload(j, labels[j])) for j in range(i, min(n, i + BATCH))])
    return time.perf_counter() - started


def edge_writes_alone(folder: Path, vectors: np.ndarray, labels: list[str]) -> int:
    """Points per second into Edge with no graph built beside the writes: the engine's write
    rate, as the issue measured it. The product builds graphs while a load writes
    (`edge_indexing`), which slows the writes and saves most of the index's time at the end."""
    chunk, edge_indexing.INDEX_CHUNK = edge_indexing.INDEX_CHUNK, len(vectors) + 1
    try:
        with EdgeStore(folder) as store:
            seconds = fill(store, "bench", vectors, labels)
    finally:
        edge_indexing.INDEX_CHUNK = chunk
        shutil.rmtree(folder)
    return round(len(vectors) / seconds)


def measure(open_store, vectors: np.ndarray, labels: list[str], evaluate_too: bool) -> dict:
    n, name = len(vectors), "bench"
    store: Store = open_store()
    upsert_s = fill(store, name, vectors, labels)
    started = time.perf_counter()
    built = store.build_index(name)
    index_s = time.perf_counter() - started
    store.close()

    started = time.perf_counter()
    store = open_store()
    store.count(name)  # the collection's files are opened on first use
    reopen_s = time.perf_counter() - started
    rng = np.random.default_rng(1)
    queries = vectors[rng.choice(n, 200, replace=False)]
    for q in queries[:10]:
        store.search(name, q, 10)  # warm-up
    p50, p95 = percentiles(timed_ms(lambda q=q: store.search(name, q, 10) for q in queries))
    # What an approximate (HNSW) search loses: its top 10 against numpy's exact top 10.
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    found = [{uuid.UUID(s.id).int - 1 for s in store.search(name, q, 10)} for q in queries]
    recall = statistics.mean(len(f & set(e.tolist())) / 10 for f, e in zip(found, exact))
    f50, f95 = percentiles(timed_ms(lambda q=q: store.search(name, q, 10, Where(label="cat")) for q in queries[:100]))
    month50, month95 = percentiles(timed_ms(lambda q=q: store.search(name, q, 10, MONTH) for q in queries[:100]))
    year50, year95 = percentiles(timed_ms(lambda q=q: store.search(name, q, 10, YEAR) for q in queries[:100]))
    result = {
        "points": n,
        "upsert_points_per_s": round(n / upsert_s),
        "upsert_s": round(upsert_s, 2),
        "index_built": built,
        "index_s": round(index_s, 2),
        "reopen_s": round(reopen_s, 3),
        "search_p50_ms": p50,
        "search_p95_ms": p95,
        "filtered_search_p50_ms": f50,
        "filtered_search_p95_ms": f95,
        "date_filtered_search_p50_ms": {"a month": month50, "a year": year50},
        "date_filtered_search_p95_ms": {"a month": month95, "a year": year95},
        "date_filter_points": {"a month": store.count(name, MONTH), "a year": store.count(name, YEAR)},
        "search_recall_at_10": round(recall, 4),
    }
    if evaluate_too:
        started = time.perf_counter()
        scored = evaluate(store, CollectionState(name, name, "bench", {}), 10, show_progress=False)
        result["evaluate_s"] = round(time.perf_counter() - started, 1)
        result["evaluate_precision_at_10"] = round(scored["precision_at_k"], 4)
    store.close()
    return result


def disk_mb(folder: Path) -> tuple[float, float]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    real = sum(p.stat().st_blocks * 512 for p in files) / 2**20
    apparent = sum(p.stat().st_size for p in files) / 2**20
    return round(real, 1), round(apparent, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--local-mode-max", type=int, default=20_000, help="largest size tried in local mode")
    parser.add_argument("--load-photos", type=int, default=0, help="also time `ingest load` of this many photos")
    args = parser.parse_args()
    vectors, labels = synthetic(args.points)
    scratch = Path(tempfile.mkdtemp(prefix="cbir-scale-"))
    try:
        edge_dir = scratch / "edge"
        report = {"vectors": "synthetic, 600 clusters on the unit sphere (see the docstring)", "machine": machine()}
        writes_alone = edge_writes_alone(scratch / "edge-writes", vectors, labels)
        report["embedded"] = measure(lambda: EdgeStore(edge_dir), vectors, labels, evaluate_too=True)
        report["embedded"]["upsert_points_per_s_while_indexing"] = report["embedded"]["upsert_points_per_s"]
        report["embedded"]["upsert_points_per_s"] = writes_alone
        report["embedded"]["written_and_indexed_s"] = round(
            report["embedded"]["upsert_s"] + report["embedded"]["index_s"], 1
        )
        report["embedded"]["disk_mb"], report["embedded"]["disk_apparent_mb"] = disk_mb(edge_dir)
        report["embedded"]["engine"] = "Qdrant Edge (qdrant-edge-py 0.9.0)"
        report["local_mode"] = []
        for n in sorted({min(6_000, args.points), min(args.local_mode_max, args.points)}):
            folder = scratch / f"local-{n}"
            row = measure(lambda f=folder: ClientStore.local_mode(f), vectors[:n], labels[:n], evaluate_too=n <= 6_000)
            row["disk_mb"], row["disk_apparent_mb"] = disk_mb(folder)
            report["local_mode"].append(row)
            shutil.rmtree(folder)
        report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        if args.load_photos:
            report["ingest_load"] = load_rate(scratch, args.load_photos)
        report["targets"] = {
            "upsert_at_least_10000_per_s": report["embedded"]["upsert_points_per_s"] >= 10_000,
            "reopen_under_1_s": report["embedded"]["reopen_s"] < 1,
            "search_p50_under_5_ms": report["embedded"]["search_p50_ms"] < 5,
            "filtered_search_p50_under_5_ms": report["embedded"]["filtered_search_p50_ms"] < 5,
            "date_filtered_search_p50_under_5_ms": max(report["embedded"]["date_filtered_search_p50_ms"].values()) < 5,
            "evaluate_under_3_minutes": report["embedded"]["evaluate_s"] < 180,
        }
        if args.load_photos:
            report["targets"]["load_at_least_1000_photos_per_s"] = report["ingest_load"]["photos_per_s"] >= 1000
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
