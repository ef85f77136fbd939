"""Speed and memory of `ingest load` on ../shared/datasets/cifar10-animals.zip. Prints JSON.

Three measurements, one temporary data directory, one run:
  1. the default `ingest load ZIP` (training included), as a user runs it: wall seconds,
     training seconds, seconds per epoch, peak memory of the process;
  2. `ingest load ZIP --model <that model> --collection bench-ingest`: ingest with an already
     trained model (read + decode + embed + media copy + upsert), images/s and peak memory;
  3. in this process, on the same embedded store: the raw upsert rate of random vectors with
     the same payload size and batch size, the store's own limit.
Targets (issue 2): ingest >= 70% of the raw upsert rate; peak memory < 1.5 GB; the default
load, training included, < 10 minutes on 2 cores.

    python bench/load_speed.py [--zip PATH] [--epochs N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_ZIP = ROOT.parent / "shared" / "datasets" / "cifar10-animals.zip"


def run_cli(home: Path, *args: str) -> tuple[dict, float, float]:
    """`ingest ARGS --json` in a child process -> (its JSON, wall seconds, peak RSS in MB)."""
    env = {**os.environ, "CBIR_HOME": str(home)}
    env.pop("QDRANT_URL", None)
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", *args, "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)  # rusage of this child alone
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ingest {' '.join(args)} failed with {status}")
    return json.loads(out), wall, usage.ru_maxrss / 1024


def raw_upsert_rate(home: Path, count: int, dim: int, batch: int) -> float:
    """Points/s for random vectors with a payload like ours, same store, same batch size."""
    from ingest.settings import Settings
    from ingest.store import Point, open_store

    with open_store(Settings(home)) as store:
        name = "bench-raw-upsert"
        store.create_collection(name, dim, {})
        vectors = np.random.default_rng(0).standard_normal((count, dim)).astype(np.float32)
        payload = {
            "path": "x" * 40,
            "source": "bench.zip",
            "label": "cat",
            "width": 32,
            "height": 32,
            "format": "JPEG",
            "bytes": 900,
            "sha256": "0" * 64,
            "model_id": "0" * 16,
            "recon_error": 0.01,
            "ingested_at": "2026-01-01T00:00:00+00:00",
        }
        started = time.perf_counter()
        for i in range(0, count, batch):
            store.upsert(name, [Point(str(uuid.uuid4()), v, payload) for v in vectors[i : i + batch]])
        rate = count / (time.perf_counter() - started)
        store.delete_collection(name)
        return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, default=DEFAULT_ZIP)
    parser.add_argument("--epochs", type=int, default=None, help="default: the product's default")
    parser.add_argument("--keep", type=Path, default=None, help="keep the data directory here")
    args = parser.parse_args()
    home = args.keep or Path(tempfile.mkdtemp(prefix="cbir-bench-")) / "cbir-data"

    train_args = ["--epochs", str(args.epochs)] if args.epochs else []
    full, full_wall, full_rss = run_cli(home, "load", str(args.zip), *train_args)
    info, _, _ = run_cli(home, "info")
    model = info["model"]
    again, again_wall, again_rss = run_cli(
        home, "load", str(args.zip), "--collection", "bench-ingest", "--model", full["model_id"]
    )
    images = again["indexed"] + again["already_present"]
    ingest_rate = images / again["seconds"]
    raw_rate = raw_upsert_rate(home, images, info["model"]["latent_dim"], batch=256)

    from encoder.device import pick_device

    print(
        json.dumps(
            {
                "zip": str(args.zip),
                "images": images,
                "machine": {"cpus": os.cpu_count(), "device": pick_device().type, "python": platform.python_version()},
                "default_load": {
                    "wall_seconds": round(full_wall, 1),
                    "train_seconds": round(full["train_seconds"], 1),
                    "epochs_run": model["epochs_run"],
                    "best_epoch": model["best_epoch"],
                    "seconds_per_epoch": round(model["seconds_per_epoch"], 2),
                    "peak_rss_mb": round(full_rss),
                    "under_10_minutes": full_wall < 600,
                },
                "ingest_with_trained_model": {
                    "seconds": round(again["seconds"], 2),
                    "wall_seconds_with_startup": round(again_wall, 2),
                    "images_per_s": round(ingest_rate, 1),
                    "peak_rss_mb": round(again_rss),
                },
                "raw_upsert_points_per_s": round(raw_rate, 1),
                "ingest_vs_raw_upsert": round(ingest_rate / raw_rate, 3),
                "targets_met": {
                    "ingest_at_least_70pct_of_raw": ingest_rate / raw_rate >= 0.7,
                    "peak_memory_under_1_5_gb": max(full_rss, again_rss) < 1536,
                    "default_load_under_10_minutes": full_wall < 600,
                },
            },
            indent=2,
        )
    )
    if args.keep is None:
        shutil.rmtree(home.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
