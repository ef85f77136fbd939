"""What the embedded store really takes on disk: N points written as a load writes them (batches of
256 through `EdgeStore.upsert`, search graphs built beside the writes and at the end, as the
product does), measured in allocated blocks, not apparent sizes (Edge's files are sparse).
Prints JSON; the room a load asks for (`ingest/store/space.py`) comes from these figures.

For each N: the collection when created (`empty_bytes`), after the writes, the peak while
writing and building the index (sampled every 0.1 s), after closing, the catalog's share, and
the footprint once the store is opened again on a file system whose memory maps allocate (a
tmpfs): predicted from the files (`space.growth_on_open`), and measured on a real tmpfs when the
benchmark runs as root (`--tmpfs`).

    python -m bench.store_footprint [--points 1000 10000 100000] [--tmpfs]

Vectors and payloads are bench/scale.py's: unit 256-d vectors around 600 cluster centres, and a
payload with every field a load writes (with a real SHA-256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.machine import machine
from bench.scale import BATCH, DIM, payload, synthetic
from ingest.store import Point, space
from ingest.store.edge import INDEX_MIN_POINTS, EdgeStore

MB = 2**20


class PeakBytes:
    """The most `folder` held, sampled on a thread of its own."""

    def __init__(self, folder: Path, every_s: float = 0.1) -> None:
        self.folder, self.every_s, self.peak = folder, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, space.allocated_bytes(self.folder))
            except FileNotFoundError:  # a file replaced while it was counted
                pass
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakBytes:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, space.allocated_bytes(self.folder))


def mapped_apparent(collection: Path) -> tuple[int, int]:
    """Apparent and allocated bytes of the files Edge reads whole when it opens a collection."""
    apparent = allocated = 0
    for path in (collection / "segments").rglob("*"):
        if path.is_file() and not any(part in space.NOT_READ_ON_OPEN for part in path.parts):
            info = path.stat()
            apparent, allocated = apparent + info.st_size, allocated + info.st_blocks * 512
    return apparent, allocated


def photo(i: int, label: str) -> dict:
    """bench/scale.py's payload with a real SHA-256 (as random as a photo's), which the catalog
    cannot compress away as it would scale.py's counter."""
    return {**payload(i, label), "sha256": hashlib.sha256(str(i).encode()).hexdigest()}


def measure(folder: Path, n: int, on_tmpfs: bool) -> dict:
    vectors, labels = synthetic(n)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(n)]
    name = "bench"
    started = time.perf_counter()
    with PeakBytes(folder) as peak:
        store = EdgeStore(folder)
        store.create_collection(name, DIM, {"model_id": "bench"})
        empty = space.allocated_bytes(folder)
        for i in range(0, n, BATCH):
            store.upsert(name, [Point(ids[j], vectors[j], photo(j, labels[j])) for j in range(i, min(n, i + BATCH))])
        written = space.allocated_bytes(folder)
        write_s = time.perf_counter() - started
        built = store.build_index(name)
        store.close()
    closed = space.allocated_bytes(folder)
    collection = folder / "collections" / name
    apparent, mapped_allocated = mapped_apparent(collection)
    result = {
        "points": n,
        "empty_bytes": empty,
        "written_bytes": written,
        "peak_bytes": peak.peak,
        "closed_bytes": closed,
        "catalog_bytes": space.allocated_bytes(folder / "catalog"),
        "apparent_bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
        "index_built": built,
        "write_and_index_s": round(time.perf_counter() - started, 1),
        "write_s": round(write_s, 1),
        "bytes_per_point_closed": round(closed / n),
        # On a tmpfs: what the collection takes once opened again (Edge reads these files whole).
        "opened_on_tmpfs_predicted_bytes": closed - mapped_allocated + apparent,
    }
    if on_tmpfs:
        before = space.allocated_bytes(folder)
        predicted = space.growth_on_open(collection)
        with EdgeStore(folder) as store:
            store.count(name)
        result["opened_on_tmpfs_bytes"] = space.allocated_bytes(folder)
        result["growth_on_open_predicted_bytes"] = predicted
        result["growth_on_open_bytes"] = result["opened_on_tmpfs_bytes"] - before
    return result


def run(points: list[int], tmpfs: bool) -> dict:
    results = []
    for n in points:
        with tempfile.TemporaryDirectory(prefix="footprint-", dir=os.environ.get("BENCH_DIR")) as tmp:
            row = {"file_system": space.file_system_type(Path(tmp)), **measure(Path(tmp) / "store", n, False)}
            results.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        if tmpfs:
            with tempfile.TemporaryDirectory(prefix="footprint-tmpfs-") as mount:
                subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4g", "tmpfs", mount], check=True)
                try:
                    row = {"file_system": "tmpfs", **measure(Path(mount) / "store", n, True)}
                finally:
                    subprocess.run(["umount", "-l", mount], check=False)
            results.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return {
        "benchmark": "store_footprint",
        "machine": machine(),
        "index_min_points": INDEX_MIN_POINTS,
        "reserve_bytes": space.RESERVE_BYTES,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--tmpfs", action="store_true", help="also on a tmpfs mounted for it (needs root)")
    args = parser.parse_args()
    print(json.dumps(run(args.points, args.tmpfs), indent=2))


if __name__ == "__main__":
    main()
