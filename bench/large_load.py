"""A default `ingest load` of a large folder of photo-sized pictures, training included: how long
it takes, how much memory it holds, and what the load chose to train. Prints JSON.

    python -m bench.large_load --photos 50000

The zip is made from bigcats.zip and dogbreeds.zip (bench/datasets.py; 4,781 real photos):
each shrunk to a longer side of 320 px, then mirrored, rotated and shifted, re-encoded as JPEG
(`load_rate.variants_zip`), so every file has distinct bytes. The variants of one photo are near
duplicates of each other, so retrieval quality is not measured here (`bench.quality` does
that on the real photos): this is the time and memory of a load the size of a photo library.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import ROOT
from bench.child_memory import PeakMemory
from bench.load_rate import PHOTO_SIZED_SIDE, PHOTO_SIZED_SOURCES, variants_zip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=50_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the zip, models and store here")
    args = parser.parse_args()
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="cbir-large-"))
    scratch.mkdir(parents=True, exist_ok=True)
    archive = scratch / f"photos-{args.photos}.zip"
    if not archive.exists():
        started = time.perf_counter()
        variants_zip(archive, args.photos, PHOTO_SIZED_SOURCES, longest=PHOTO_SIZED_SIDE)
        print(f"made {archive} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    env = {**os.environ, "CBIR_HOME": str(scratch / "home")}
    env.pop("QDRANT_URL", None)
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "load", str(archive), "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with PeakMemory(child.pid) as peak:
        out, said = child.communicate()
    wall = time.perf_counter() - started
    if child.returncode:
        raise SystemExit(f"ingest load failed: {said[-2000:]}")
    report = json.loads(out)
    info = json.loads(
        subprocess.run(
            [sys.executable, "-m", "ingest.cli", "info", "--json"], cwd=ROOT, env=env, capture_output=True, text=True
        ).stdout
    )
    model = info["model"]
    print(
        json.dumps(
            {
                "photos": args.photos,
                "input": f"{args.photos:,} variants of {' and '.join(PHOTO_SIZED_SOURCES)}"
                f" (longer side {PHOTO_SIZED_SIDE} px)",
                "points": info["points"],
                "load_minutes": round(wall / 60, 2),
                "train_seconds": round(report["train_seconds"]),
                "index_seconds": round(report["index_seconds"]),
                "peak_rss_mb": peak.mb,
                "said": [line for line in said.splitlines() if line.startswith(("input side", "training for"))],
                "training_sample": model["trained_on"].get("trained_on"),
                "train_images": model.get("train_images"),
                "epochs": model["epochs_run"],
                "embedding_stats_images": model.get("embedding_stats_images"),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
