"""How soon a photo written into a watched folder can be found, and how a big import is taken in by
`ingest watch`. Prints JSON.

    python -m bench.watch_latency [--files 200] [--burst 20] [--import-files 1000] [--poll SECONDS]

A model of the default photo recipe (trained at 48 px, embedding at 112 px) is trained for one
epoch on 300 photos of bigcats.zip (a model's speed does not depend on how well it was trained),
and the watch runs on an empty folder of that collection. Then `--files` photos of dogbreeds.zip
(real JPEGs of a few hundred pixels) are written in bursts of `--burst`, 3 to 6 s apart. A file's
latency runs from the moment it is closed to the moment its point is in the store, which a
reader checks as the page does: opening the embedded store without waiting for it, every 100 ms.
Then `--import-files` photos at once, as a camera import: how many passes (batches) took them in,
and how long until every one was searchable. Last, how long a scan of a folder of 50,000 files
takes (what a pass costs at that size; `ingest.watch.folder.scan`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path

from bench import ROOT, datasets
from bench.machine import machine
from ingest.load.records import point_id
from ingest.settings import Settings
from ingest.store import StoreBusy, connect
from ingest.store import collections as cols
from ingest.watch.folder import scan


class Searchable(threading.Thread):
    """Notes when each expected point appears in the store, looking every 100 ms as the page does."""

    def __init__(self, home: Path) -> None:
        super().__init__(daemon=True)
        self.settings, self.expected, self.found = Settings(home), {}, {}
        self.lock, self.done = threading.Lock(), threading.Event()

    def expect(self, sha: str, written: float) -> None:
        with self.lock:
            self.expected[point_id(sha)] = written

    def run(self) -> None:
        while not self.done.is_set():
            with self.lock:
                waiting = [i for i in self.expected if i not in self.found]
            if waiting:
                try:
                    store = connect(self.settings, wait_s=0)
                except StoreBusy:  # the watch is writing: the page would say so and look again
                    time.sleep(0.02)
                    continue
                try:
                    physical = cols.require(store, "animals").physical
                    seen = store.retrieve(physical, waiting, payload=False)
                finally:
                    store.close()
                now = time.time()
                with self.lock:
                    self.found.update({r.id: now for r in seen})
            time.sleep(0.1)

    def wait_all(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.found) == len(self.expected):
                    return True
            time.sleep(0.2)
        return False

    def latencies(self, ids: list[str]) -> list[float]:
        with self.lock:
            return [self.found[i] - self.expected[i] for i in ids if i in self.found]


def write(folder: Path, name: str, data: bytes, watcher: Searchable) -> str:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "wb") as out:
        out.write(data)
    sha = hashlib.sha256(data).hexdigest()
    watcher.expect(sha, time.time())
    return point_id(sha)


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "median_s": round(statistics.median(ordered), 2),
        "p95_s": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max_s": round(ordered[-1], 2),
    }


def scan_seconds(scratch: Path, files: int = 50_000) -> float:
    tree = scratch / "tree"
    for n in range(files):
        folder = tree / f"d{n // 500:03d}"
        if n % 500 == 0:
            folder.mkdir(parents=True)
        (folder / f"IMG_{n:05d}.jpg").touch()
    times = []
    for _ in range(3):
        started = time.perf_counter()
        assert len(scan(tree)) == files
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--import-files", type=int, default=1000)
    parser.add_argument("--poll", type=float, default=None, help="the watch polls every SECONDS instead of events")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cbir-watch-"))
    home, folder = scratch / "cbir-data", scratch / "photos"
    env = {**os.environ, "CBIR_HOME": str(home)}
    env.pop("QDRANT_URL", None)
    with zipfile.ZipFile(datasets.zip_path("bigcats")) as source, zipfile.ZipFile(scratch / "train.zip", "w") as train:
        for info in [i for i in source.infolist() if not i.is_dir()][:300]:
            train.writestr(info.filename, source.read(info))
    subprocess.run(
        [sys.executable, "-m", "ingest.cli", "load", str(scratch / "train.zip"), "--epochs", "1"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    with zipfile.ZipFile(datasets.zip_path("dogbreeds")) as source:
        photos = [(i.filename, source.read(i)) for i in source.infolist() if not i.is_dir()]
    folder.mkdir()
    command = [sys.executable, "-m", "ingest.cli", "watch", str(folder), "--json"]
    command += ["--poll", str(args.poll)] if args.poll else []
    watch = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    said: list[str] = []
    lines: list[tuple[float, dict]] = []
    threading.Thread(target=lambda: said.extend(watch.stderr), daemon=True).start()
    threading.Thread(
        target=lambda: lines.extend((time.time(), json.loads(x)) for x in watch.stdout), daemon=True
    ).start()
    while not any(line.startswith("watching ") for line in said):
        if watch.poll() is not None:
            raise SystemExit("".join(said))
        time.sleep(0.2)
    searchable = Searchable(home)
    searchable.start()
    rng = random.Random(0)
    bursts = []
    for start in range(0, args.files, args.burst):
        ids = [
            write(folder, f"b{start:04d}/{name.replace('/', '-')}", data, searchable)
            for name, data in photos[start : start + args.burst]
        ]
        bursts += ids
        time.sleep(rng.uniform(3, 6))
    searchable.wait_all(120)
    burst_latency = searchable.latencies(bursts)

    passes_before = len([x for _, x in lines if x["kind"] == "synced"])
    started = time.time()
    imported = [
        write(folder, f"import/{name.replace('/', '-')}", data, searchable)  # breeds reuse file names
        for name, data in photos[args.files : args.files + args.import_files]
    ]
    written = time.time()
    searchable.wait_all(600)
    found = [searchable.found[i] for i in imported if i in searchable.found]  # a skipped file never is
    finished = max(found, default=float("nan"))
    passes = [x for _, x in lines if x["kind"] == "synced"][passes_before:]
    searchable.done.set()
    watch.send_signal(signal.SIGTERM)
    stopped = watch.wait(timeout=60)

    report = {
        "machine": machine(),
        "load_average_at_end": os.getloadavg(),
        "watching": f"every {args.poll} s (polling)" if args.poll else "file-system events (inotify)",
        "model": "the default photo recipe (48 px, embedded at 112 px), trained 1 epoch on 300 photos of bigcats.zip",
        "bursts": {
            "files": len(bursts),
            "searchable": len(burst_latency),
            "burst_size": args.burst,
            "written_to_searchable": percentiles(burst_latency),
        },
        "import": {
            "files": len(imported),
            "searchable": len(found),
            "told": dict(Counter(x["kind"] for _, x in lines)),
            "writing_s": round(written - started, 2),
            "passes": len(passes),
            "passes_detail": [p["detail"] for p in passes],
            "first_written_to_all_searchable_s": round(finished - started, 2),
            "last_written_to_all_searchable_s": round(finished - written, 2),
        },
        "scan_50000_files_s": scan_seconds(scratch),
        "stopped_with": stopped,
        "watch_said_last": said[-15:],
        "targets": {"median_under_5_s": percentiles(burst_latency)["median_s"] < 5},
    }
    print(json.dumps(report, indent=2))
    subprocess.run(["rm", "-rf", str(scratch)], check=False)


if __name__ == "__main__":
    main()
