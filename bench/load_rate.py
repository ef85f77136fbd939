"""`ingest load` of tens of thousands of photos with an already trained model: the end-to-end rate
(read, decode, copy, embed, write), for `python -m bench.scale --load-photos N`.

The zip is made from the data set cifar10-animals.zip (bench/datasets.py): each of its 6,000
photos, then mirrored, rotated by 90, 180 and 270 degrees, and so on with a shifted crop,
re-encoded as JPEG (quality 90), so every file has distinct bytes. With `exif`, each carries the
EXIF block a phone writes (`phone_exif`: 60 tags and a 1.4 kB maker note, a date of its own), so
that what reading EXIF costs is measured on the blocks real photos have. The model is the default
architecture, trained for one epoch on the bundled sample (the rate does not depend on how well it
was trained).

With `before` (a git revision), the same zip is also loaded by that revision's code (extracted
with `git archive`), the two alternating, `rounds` times each (each first every other round),
each into a fresh data directory holding the same model, after a load that is not counted: the
difference is the code's, not the host's mood. Each load's CPU time (user and system, every
thread) is reported beside its rate: on a host shared with other work, the rate says how busy
the host was, the CPU time what the load itself cost. Each round also loads a zip of one photo,
whose CPU time (the process starting, importing torch, opening the store and the model) is taken
off: `marginal_cpu_ms_per_photo` is what each further photo costs.

    python -m bench.load_rate --photos 20000 --exif --before REV --rounds 3 --out FILE.json

With `photo_sized`, the photos are those of bigcats.zip and dogbreeds.zip at a longer side of
320 px instead (bench/large_load.py's 50,000-photo load is made of them).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from PIL import Image, ImageOps
from PIL.TiffImagePlugin import IFDRational as R

from bench import ROOT, datasets, print_report
from bench.child_memory import PeakMemory
from bench.machine import machine

ROUNDS = 2
# Photo-sized pictures, as a photo library holds: the real photos of these data sets, shrunk to
# this longer side (bench/large_load.py loads 50,000 of them).
PHOTO_SIZED_SOURCES, PHOTO_SIZED_SIDE = ("bigcats", "dogbreeds"), 320


def phone_exif(n: int) -> bytes:
    """The EXIF block of an iPhone photo: its tags, sizes and maker note; the date and position vary with n."""
    exif = Image.Exif()
    exif.update({0x010F: "Apple", 0x0110: "iPhone 13", 0x0112: 1, 0x011A: R(72), 0x011B: R(72), 0x0128: 2})
    exif.update({0x0131: "17.5.1", 0x0132: "2024:06:01 14:30:09", 0x013C: "iPhone 13"})
    taken = f"2024:{1 + n % 12:02d}:{1 + n % 28:02d} {n % 24:02d}:{n % 60:02d}:{n * 7 % 60:02d}"
    details = exif.get_ifd(0x8769)
    details.update({0x829A: R(1, 120), 0x829D: R(16, 10), 0x8822: 2, 0x8827: 50, 0x9000: b"0232"})
    details.update({0x9003: taken, 0x9004: taken, 0x9010: "+02:00", 0x9011: "+02:00", 0x9012: "+02:00"})
    details.update({0x9201: R(69, 10), 0x9202: R(135, 100), 0x9203: R(55, 10), 0x9204: R(0), 0x9207: 5})
    details.update({0x9209: 16, 0x920A: R(51, 10), 0x9214: (2009, 1509, 2318, 1390), 0x927C: bytes(1400)})
    details.update({0x9290: "120", 0x9291: f"{n % 1000:03d}", 0x9292: "120", 0xA001: 65535, 0xA002: 4032})
    details.update({0xA003: 3024, 0xA217: 2, 0xA301: b"\x01", 0xA402: 0, 0xA403: 0, 0xA405: 26, 0xA406: 0})
    details.update({0xA432: (R(51, 10), R(51, 10), R(16, 10), R(16, 10)), 0xA433: "Apple"})
    details[0xA434] = "iPhone 13 back dual wide camera 5.1mm f/1.6"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (R(48), R(51), R(n % 6000, 100)), 3: "E", 4: (R(2), R(21), R(0)), 5: b"\x00"})
    gps.update({6: R(35), 12: "K", 13: R(0), 16: "T", 17: R(2003, 10), 23: "T", 24: R(2003, 10)})
    gps.update({29: "2024:06:01", 31: R(5)})
    return exif.tobytes()


def variants_zip(
    path: Path, photos: int, sources: tuple[str, ...] = ("cifar10-animals",), longest: int = 0, exif: bool = False
) -> None:
    """`photos` distinct files made from the data sets named in `sources` (bench/datasets.py; see
    the docstring). With `longest`, each photo is first shrunk to at most that longer side (JPEG
    draft decoding), so that tens of thousands of photo-sized files are made in minutes."""
    originals = []
    for name in sources:
        with zipfile.ZipFile(datasets.zip_path(name)) as source:
            originals += [(i.filename, source.read(i)) for i in source.infolist() if not i.is_dir()]
    with zipfile.ZipFile(path, "w") as out:
        for n in range(photos):
            name, data = originals[n % len(originals)]
            variant = n // len(originals)
            image = Image.open(io.BytesIO(data))
            if longest:
                image.draft("RGB", (longest, longest))
                image.thumbnail((longest, longest))
            image = image.convert("RGB")
            image = ImageOps.mirror(image) if variant % 2 else image
            image = image.rotate(90 * (variant // 2 % 4), expand=True)
            if variant >= 8:  # shift by a pixel or two: new bytes again
                shift = 1 + variant // 8
                image = image.crop((shift, shift, image.width, image.height)).resize(image.size)
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=90, **({"exif": phone_exif(n)} if exif else {}))
            out.writestr(f"v{variant:02d}/{name}", buffer.getvalue())


def code_of(revision: str, scratch: Path) -> Path:
    """The project's files at a git revision, in a folder of their own."""
    target = scratch / f"code-{revision}"
    if not target.exists():
        target.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", revision], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def cli(code: Path, home: Path, *args: str) -> tuple[dict, float, int]:
    """`ingest ARGS --json` run from `code`; its report, wall seconds and peak memory (MB)."""
    env = {**os.environ, "CBIR_HOME": str(home)}
    env.pop("QDRANT_URL", None)
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", *args, "--json"],
        cwd=code,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    with PeakMemory(child.pid) as peak:
        out = child.stdout.read()
        if child.wait():
            raise SystemExit(f"ingest {' '.join(args)} failed (code from {code})")
    return json.loads(out), time.perf_counter() - started, peak.mb


def one_load(code: Path, scratch: Path, archive: Path, model_home: Path, model_id: str, name: str) -> dict:
    """One `ingest load` into a fresh data directory holding the model; what it cost."""
    home = scratch / name
    shutil.copytree(model_home / "models", home / "models", ignore=shutil.ignore_patterns("training"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    report, wall, rss = cli(code, home, "load", str(archive), "--model", model_id, "--collection", "big")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(home)
    photos = report["indexed"] + report["already_present"]
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "cpu_s": round(cpu_s, 3),
        # CPU time, the whole process's (startup included): what a load costs whatever else runs on
        # the host; its rate is what the host's cores give it.
        "cpu_ms_per_photo": round(1000 * cpu_s / photos, 3),
        "photos": photos,
        "photos_per_s": round(photos / report["seconds"]),
        "seconds": round(report["seconds"], 1),
        "index_seconds": round(report["index_seconds"], 1),  # the HNSW graph, built at 50,000 points
        "photos_per_s_before_indexing": round(photos / (report["seconds"] - report["index_seconds"])),
        "wall_seconds_with_startup": round(wall, 1),
        "peak_rss_mb": rss,
    }


def load_rate(
    scratch: Path,
    photos: int,
    exif: bool = False,
    before: str | None = None,
    rounds: int = ROUNDS,
    photo_sized: bool = False,
) -> dict:
    """`ingest load` of `photos` photos with a trained model, as a user runs it (and by `before`'s code)."""
    model_home = scratch / "model-home"
    trained, _, _ = cli(ROOT, model_home, "load", str(ROOT / "examples" / "animals-mini.zip"), "--epochs", "1")
    archive, one = scratch / "variants.zip", scratch / "one.zip"
    sources, side = (PHOTO_SIZED_SOURCES, PHOTO_SIZED_SIDE) if photo_sized else (("cifar10-animals",), 0)
    variants_zip(archive, photos, sources, side, exif)
    variants_zip(one, 1, sources, side, exif)
    made_from = f"{' and '.join(sources)} at a longer side of {side} px" if side else "cifar10-animals.zip"
    what = f"{photos:,} variants of {made_from}{' with a phone EXIF block each' if exif else ''}"
    if before is None:
        result = one_load(ROOT, scratch, archive, model_home, trained["model_id"], "load-home")
        return {**result, "input": f"{what} (see bench/load_rate.py), model trained 1 epoch"}
    old = code_of(before, scratch)
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    # Not counted: the first load of a series, with no other's copies still being written, ran
    # 10-20% faster than any after it.
    one_load(old, scratch, archive, model_home, trained["model_id"], "warm-up")
    for n in range(rounds):
        # Each goes first every other round: a load runs slower after another's (the disk still
        # writes its copies, the host drifts), which would otherwise count against the second.
        order = [("before", old), ("after", ROOT)]
        for label, code in order if n % 2 == 0 else order[::-1]:
            row = one_load(code, scratch, archive, model_home, trained["model_id"], f"{label}-{n}")
            startup = one_load(code, scratch, one, model_home, trained["model_id"], f"{label}-{n}-one")
            row["startup_cpu_s"] = startup["cpu_s"]
            row["marginal_cpu_ms_per_photo"] = round(1000 * (row["cpu_s"] - startup["cpu_s"]) / (photos - 1), 3)
            runs[label].append(row)

    def median(label: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[label])

    marginal = {label: median(label, "marginal_cpu_ms_per_photo") for label in runs}
    rate = {label: median(label, "photos_per_s_before_indexing") for label in runs}
    return {
        "input": f"{what} (see bench/load_rate.py), model trained 1 epoch",
        "rounds": rounds,
        "before": {"revision": before, "runs": runs["before"]},
        "after": {"runs": runs["after"]},
        "median_marginal_cpu_ms_per_photo": {label: round(m, 3) for label, m in marginal.items()},
        "marginal_cpu_after_over_before": round(marginal["after"] / marginal["before"], 4),
        "median_photos_per_s_before_indexing": {label: round(r) for label, r in rate.items()},
        "rate_after_over_before": round(rate["after"] / rate["before"], 4),
        "rate_after_over_before_each_round": [
            round(a["photos_per_s_before_indexing"] / b["photos_per_s_before_indexing"], 4)
            for b, a in zip(runs["before"], runs["after"])
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=20_000)
    parser.add_argument("--exif", action="store_true", help="each photo carries a phone's EXIF block")
    parser.add_argument("--before", metavar="REV", help="also load with the code of git revision REV, alternating")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="loads by each code, with --before")
    parser.add_argument(
        "--photo-sized", action="store_true", help=f"photos of {PHOTO_SIZED_SIDE} px, not thumbnails (bench.large_load)"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cbir-load-rate-"))
    try:
        rate = load_rate(scratch, args.photos, args.exif, args.before, args.rounds, args.photo_sized)
        report = {"machine": machine(), **rate}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print_report(report, args.out)


if __name__ == "__main__":
    main()
