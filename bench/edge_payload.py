"""What a payload costs on its way into Qdrant Edge: microseconds per point to build Edge's
`Point` in `qdrant-edge-py` (the binding, before the engine sees it), by the type of the payload's
fields, and for the payload `ingest load` writes. This conversion, with the GIL held, is most of
an upsert's time on this project's machine (docs/benchmarks.md, "The store at 100,000
points"). Also what a phone's EXIF block adds: reading it (`ingest.exif.photo_facts`, on the
thread that decodes) and its facts in the payload (docs/benchmarks.md, "Reading EXIF"). Prints JSON.

    python -m bench.edge_payload [--points 20000]
"""

from __future__ import annotations

import argparse
import time
import timeit
import uuid
from importlib.metadata import version
from pathlib import Path

import qdrant_edge as qe

from bench import print_report
from bench.load_rate import phone_exif
from bench.machine import machine
from ingest.exif import photo_facts
from ingest.load.records import ImageRecord, now

FIELDS = 11  # as many as the product's payload


def product_payload(exif: bytes | None = None) -> dict:
    record = ImageRecord(
        "cats/lion/00042.jpg", "bigcats.zip", "lion", 640, 480, "JPEG", 48_213, "ab" * 32, None, facts=photo_facts(exif)
    )
    return record.payload("0123456789abcdef", 0.0123, now())


def exif_reading_us(blocks: int = 200) -> float:
    """photo_facts on a phone's block, the best of five runs over `blocks` different blocks."""
    phone_blocks = [phone_exif(n) for n in range(blocks)]
    runs = timeit.repeat(lambda: [photo_facts(block) for block in phone_blocks], number=20, repeat=5)
    return round(min(runs) / 20 / blocks * 1e6, 1)


def microseconds_per_point(payload: dict, points: int) -> float:
    ids, vector = [str(uuid.uuid4()) for _ in range(points)], [0.1] * 256
    best = float("inf")
    for _ in range(3):  # the best of three: this machine's timings vary by 15% from run to run
        started = time.perf_counter()
        for i in range(points):
            qe.Point(ids[i], vector, payload)
        best = min(best, time.perf_counter() - started)
    return round(best / points * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    payloads = {
        "no payload": {},
        f"{FIELDS} booleans": {f"f{i}": True for i in range(FIELDS)},
        f"{FIELDS} integers": {f"f{i}": 48_213 for i in range(FIELDS)},
        f"{FIELDS} floats": {f"f{i}": 0.0123 for i in range(FIELDS)},
        f"{FIELDS} strings": {f"f{i}": "lion" for i in range(FIELDS)},
        "the product's payload": product_payload(),
        "the product's payload with a phone's EXIF facts": product_payload(phone_exif(42)),
    }
    report = {"machine": machine(), "points": args.points, "qdrant_edge_py": version("qdrant-edge-py")}
    report["us_per_point"] = {name: microseconds_per_point(payload, args.points) for name, payload in payloads.items()}
    empty = report["us_per_point"]["no payload"]
    report["us_per_field"] = {
        name: round((us - empty) / FIELDS, 2)
        for name, us in report["us_per_point"].items()
        if name.startswith(str(FIELDS))
    }
    report["reading_a_phones_exif_block_us"] = exif_reading_us()
    print_report(report, args.out)


if __name__ == "__main__":
    main()
