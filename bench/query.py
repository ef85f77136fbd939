"""Latency of one search as the page runs it: image in -> top-10 out (embed + Qdrant), in
process, embedded store, 6,000 points. Prints JSON.

    python -m bench.query                 # fills a temporary store first (a few minutes)
    python -m bench.query --home DIR      # reuses a data directory that holds the collection

The temporary store is filled through the pipeline, as `ingest load` does: a model trained
for one epoch on the 300-image sample (the benchmark measures speed, not quality; the model
has the default architecture), then the 6,000-image zip embedded with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

import torch

from bench import ROOT, datasets
from ingest import store
from ingest.images import decode
from ingest.load.pipeline import LoadOptions, load
from ingest.query.search import Index
from ingest.settings import DEFAULT_COLLECTION, Settings
from ui.resources import PAGE_TORCH_THREADS

SAMPLE_ZIP = ROOT / "examples" / "animals-mini.zip"


def fill(home: Path, big_zip: Path) -> dict:
    settings = Settings(home)
    started = time.perf_counter()
    trained = load(SAMPLE_ZIP, settings, LoadOptions(epochs=1, show_progress=False))
    filled = load(big_zip, settings, LoadOptions(show_progress=False))
    return {
        "filled_from": f"model: 1 epoch on {SAMPLE_ZIP.name}; points: {big_zip.name}",
        "fill_seconds": round(time.perf_counter() - started, 1),
        "model_id": trained.model_id,
        "indexed": trained.indexed + filled.indexed,
    }


def query_images(big_zip: Path, n: int, seed: int = 0) -> list:
    with zipfile.ZipFile(big_zip) as zf:
        names = sorted(i.filename for i in zf.infolist() if not i.is_dir())
        picked = random.Random(seed).sample(names, min(n, len(names)))
        return [decode(zf.read(name)).image for name in picked]


def percentiles(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
        "n": len(ordered),
    }


def timed(calls) -> list[float]:
    samples = []
    for call in calls:
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure(index: Index, images: list, k: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    for image in images[:10]:  # warm-up: first calls allocate
        index.by_image(image, k)
    vectors = [index.embed(image) for image in images]
    label = next(iter(index.labels()))
    return {
        "torch_threads": threads,
        "search": percentiles(timed(lambda im=im: index.by_image(im, k) for im in images)),
        "embed_only": percentiles(timed(lambda im=im: index.embed(im) for im in images)),
        "qdrant_only": percentiles(timed(lambda v=v: index.by_vector(v, k) for v in vectors)),
        "search_with_label_filter": percentiles(
            timed(lambda im=im: index.by_image(im, k, label) for im in images[:50])
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--home",
        type=Path,
        default=os.environ.get("CBIR_BENCH_HOME"),
        help="a data directory whose collection to query (default: fill a temporary one)",
    )
    parser.add_argument(
        "--zip",
        type=datasets.zip_path,
        default="cifar10-animals",
        help="the 6,000-image data set, or a zip (fills the store, gives the queries)",
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    default_threads = torch.get_num_threads()

    with tempfile.TemporaryDirectory(prefix="cbir-bench-query-") as scratch:
        home = args.home or Path(scratch) / "cbir-data"
        report: dict = {"store": "embedded", "home": str(home)}
        if args.home is None:
            report.update(fill(home, args.zip))
        settings = Settings(home)
        started = time.perf_counter()
        with store.open_store(settings) as db:
            report["open_store_ms"] = round((time.perf_counter() - started) * 1000, 1)
            index = Index.open(db, settings, DEFAULT_COLLECTION)
            report["points"] = index.count()
            images = query_images(args.zip, args.queries)
            report["k"] = args.k
            report["page"] = measure(index, images, args.k, PAGE_TORCH_THREADS)
            # For comparison: torch's own default (one thread per core) on fewer queries.
            report["torch_default_threads"] = measure(index, images[:100], args.k, default_threads)
    report["target"] = "p50 of page.search under 50 ms on 2 CPU cores"
    report["machine"] = {
        "cpus": os.cpu_count(),
        "device": str(index.embedder.device),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
