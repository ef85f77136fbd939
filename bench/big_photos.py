"""A load of phone-sized photos (4032 x 3024 JPEGs) with a trained model: photos a second, CPU
seconds and peak memory, and what one photo costs at each step of reading it. Prints JSON.

    python -m bench.big_photos [--photos 300] [--compare OTHER_CHECKOUT] [--rounds 3]

The photos are `bigcats.zip`'s, enlarged to 12 megapixels with grain added (so that a file is
about as busy as a photo and the scale it is decoded at shows in its pixels), saved as JPEG at
quality 90. A model is trained first (`ingest load ZIP --epochs 1`); what is measured is the zip
loaded again, into another collection, with that model (`--model ID`): reading, decoding, the
media copy, embedding and writing. With --compare, the same load runs from another checkout too
(`git worktree add /tmp/before COMMIT`), the two interleaved, a fresh copy of the data each time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from bench import ROOT, datasets
from encoder.checkpoint import TransformSpec
from encoder.transforms import fixed_transform
from ingest.store.media import MediaStore, decode_picture

SIDE = (4032, 3024)


def phone_zip(path: Path, photos: int) -> None:
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(datasets.zip_path("bigcats")) as source:
        names = [i.filename for i in source.infolist() if not i.is_dir()]
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as out:  # JPEGs do not deflate
            for n, name in enumerate(names[:: max(1, len(names) // photos)][:photos]):
                big = Image.open(io.BytesIO(source.read(name))).convert("RGB").resize(SIDE, Image.Resampling.BICUBIC)
                pixels = np.asarray(big, dtype=np.int16) + rng.integers(-24, 24, (SIDE[1], SIDE[0], 3), dtype=np.int16)
                buffer = io.BytesIO()
                Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
                out.writestr(f"phone/{Path(name).parent.name}/{n:04d}.jpg", buffer.getvalue())


def ingest(checkout: Path, home: Path, *args: str) -> tuple[dict, float, float]:
    """One `ingest` command from `checkout`: its JSON, wall seconds, CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ingest.cli", *args, "--json"],
        cwd=checkout,
        env={k: v for k, v in os.environ.items() if not k.startswith(("QDRANT_", "CBIR_"))} | {"CBIR_HOME": str(home)},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"ingest {args[0]} failed: {done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(done.stdout), time.perf_counter() - started, cpu


def per_photo_ms(archive: Path, photos: int = 40) -> dict:
    """This checkout's reading of one photo, step by step, on one thread."""
    with zipfile.ZipFile(archive) as zf:
        datas = [zf.read(i) for i in zf.infolist()[:photos]]
    media = MediaStore(Path(tempfile.mkdtemp(prefix="cbir-media-")))
    spent = {"decode": 0.0, "media copy": 0.0, "fixed transform (112 px)": 0.0}
    for n, data in enumerate(datas):
        t0 = time.perf_counter()
        decoded = decode_picture(data)
        t1 = time.perf_counter()
        media.put(f"{n:064x}", data, decoded.image, (decoded.width, decoded.height), decoded.format)
        t2 = time.perf_counter()
        fixed_transform(decoded.image, TransformSpec(image_size=112))
        t3 = time.perf_counter()
        for key, seconds in zip(spent, (t1 - t0, t2 - t1, t3 - t2)):
            spent[key] += seconds
    shutil.rmtree(media.root)
    return {key: round(1000 * seconds / len(datas), 2) for key, seconds in spent.items()} | {
        "decoded_size": list(decoded.image.size)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--compare", type=Path, default=None, help="another checkout, run interleaved")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="keep the zip and the data here")
    args = parser.parse_args()
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="cbir-big-"))
    scratch.mkdir(parents=True, exist_ok=True)
    archive = scratch / f"phone-{args.photos}.zip"
    if not archive.exists():
        phone_zip(archive, args.photos)
    trained_home = scratch / "trained"
    if not trained_home.exists():
        ingest(ROOT, trained_home, "load", str(archive), "--epochs", "1")
    model_id = ingest(ROOT, trained_home, "info")[0]["model_id"]
    checkouts = {"this checkout": ROOT} | ({"compared": args.compare.resolve()} if args.compare else {})
    runs: dict[str, list[dict]] = {name: [] for name in checkouts}
    for _ in range(args.rounds):
        for name, checkout in checkouts.items():
            home = scratch / "run"
            shutil.rmtree(home, ignore_errors=True)
            shutil.copytree(trained_home, home)
            loaded, wall, cpu = ingest(checkout, home, "load", str(archive), "--model", model_id, "--collection", "big")
            runs[name].append(
                {"indexed": loaded["indexed"], "process_s": round(wall, 2), "cpu_s": round(cpu, 2)}
                | {"load_s": loaded["seconds"], "photos_per_s": round(loaded["indexed"] / loaded["seconds"], 1)}
            )
            print(json.dumps({name: runs[name][-1]}), file=sys.stderr, flush=True)
    report = {
        "photos": args.photos,
        "zip_mb": round(archive.stat().st_size / 2**20),
        "photo_size": list(SIDE),
        "command_timed": f"ingest load {archive.name} --model ID --collection big",
        "load_s": "the load's own time, as it reports it (reading to the last point written)",
        "process_s": "the whole process, start-up included; cpu_s: its user and system time",
        "per_photo_ms_one_thread": per_photo_ms(archive),
        "loads": runs,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
